"""Signed approvals of the model lock, with the real ssh-keygen: who signed, what counts, what is refused."""

import hashlib
import json
import os
import subprocess

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import lock_signature as ls
from ansible_collections.llmsec.hardening.plugins.module_utils import model_checksum as mc


def keygen(tmp_path, who):
    path = tmp_path / who
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)], check=True)
    return str(path), (tmp_path / (who + ".pub")).read_text().strip()


def sign(key, lock, out, namespace=ls.NAMESPACE):
    subprocess.run(["ssh-keygen", "-Y", "sign", "-f", key, "-n", namespace, str(lock)], check=True,
                   capture_output=True)
    os.replace(str(lock) + ".sig", out)
    return str(out)


@pytest.fixture
def setup(tmp_path):
    keys = {who: keygen(tmp_path, who) for who in ("alice", "bob", "mallory")}
    lock = tmp_path / "models.lock.yml"
    lock.write_text(mc.render_lock({"tiny:1b": {"manifest": "sha256:" + "a" * 64}}))
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(ls.render_allowed_signers([{"principal": "alice@example.com", "key": keys["alice"][1]},
                                                  {"principal": "bob", "key": keys["bob"][1]}]))
    sigs = tmp_path / "sig.d"
    sigs.mkdir()
    return keys, lock, str(allowed), sigs


def test_two_approvers_trusted_and_named(setup):
    keys, lock, allowed, sigs = setup
    sign(keys["alice"][0], lock, sigs / "01.sig")
    sign(keys["bob"][0], lock, sigs / "02.sig")
    state = ls.verify(lock.read_bytes(), ls.signature_files(str(sigs)), allowed, 2)
    assert state["trusted"] and state["approved_by"] == ["alice@example.com", "bob"]
    assert all(a["key"].startswith("SHA256:") for a in state["approvals"]) and not state["rejected"]


def test_one_signature_twice_is_one_approver(setup):
    keys, lock, allowed, sigs = setup
    sign(keys["alice"][0], lock, sigs / "01.sig")
    sign(keys["alice"][0], lock, sigs / "02.sig")
    state = ls.verify(lock.read_bytes(), ls.signature_files(str(sigs)), allowed, 2)
    assert not state["trusted"] and state["approved_by"] == ["alice@example.com"]


def test_unknown_key_other_namespace_and_edited_lock_refused(setup):
    keys, lock, allowed, sigs = setup
    sign(keys["mallory"][0], lock, sigs / "01.sig")
    sign(keys["bob"][0], lock, sigs / "02.sig", namespace="file")
    sign(keys["alice"][0], lock, sigs / "03.sig")
    lock.write_text(lock.read_text().replace("a" * 64, "b" * 64))  # edited after signing
    state = ls.verify(lock.read_bytes(), ls.signature_files(str(sigs)), allowed, 1)
    assert not state["trusted"] and state["approved_by"] == []
    reasons = [r["reason"] for r in state["rejected"]]
    assert reasons[0] == "made with a key that is not on the allowed signers list"
    assert reasons[1].startswith("signed by bob but does not verify")
    assert reasons[2].startswith("signed by alice@example.com but does not verify")
    assert "0 distinct valid signature(s) (none) of 1 required" in ls.finding(state, str(lock))


def test_no_signature_at_all(setup):
    _keys, lock, allowed, sigs = setup
    assert ls.signature_files(str(sigs / "absent")) == []
    state = ls.verify(lock.read_bytes(), [], allowed, 1)
    assert not state["trusted"] and state["rejected"] == []


@pytest.mark.parametrize("settings, message", [
    ({"allowed_signers": [{"principal": "a b", "key": "ssh-ed25519 AAAA"}]}, "model_integrity_allowed_signers[0].principal"),
    ({"allowed_signers": [{"principal": "*", "key": "ssh-ed25519 AAAA"}]}, "model_integrity_allowed_signers[0].principal"),
    ({"allowed_signers": [{"principal": "a", "key": "not a key"}]}, "model_integrity_allowed_signers[0].key must be"),
    ({"allowed_signers": [{"principal": "a", "key": "ssh-ed25519 AAAA"}, {"principal": "a", "key": "ssh-ed25519 BBBB"}]},
     "model_integrity_allowed_signers[1].principal a is listed twice"),
    ({"allowed_signers": "alice"}, "model_integrity_allowed_signers must be a list"),
    ({"required_signatures": 2, "allowed_signers": [{"principal": "a", "key": "ssh-ed25519 AAAA"}]},
     "model_integrity_required_signatures is 2 but model_integrity_allowed_signers names 1 approver(s)"),
    ({"required_signatures": -1}, "model_integrity_required_signatures must be 0"),
    ({"lock_signatures": ["signed by me"]}, "model_integrity_lock_signatures[0] must be an armored SSH signature"),
])
def test_settings_errors_name_the_variable(settings, message):
    full = dict({"allowed_signers": [], "required_signatures": 0, "lock_signatures": []}, **settings)
    assert [e for e in ls.settings_errors(full) if e.startswith(message)], ls.settings_errors(full)


def test_sound_settings_pass():
    assert ls.settings_errors({"allowed_signers": [{"principal": "alice@example.com",
                                                    "key": "ssh-ed25519 AAAAC3Nza alice@laptop"}],
                               "required_signatures": 1,
                               "lock_signatures": ["-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"]}) == []


def test_allowed_signers_file_limits_keys_to_the_namespace():
    text = ls.render_allowed_signers([{"principal": "bob", "key": "ssh-ed25519 AAAAC3Nza bob@laptop"}])
    assert text.splitlines()[1] == 'bob namespaces="llmsec-model-lock" ssh-ed25519 AAAAC3Nza'


def test_run_check_keeps_the_last_verified_lock_and_never_quarantines_on_an_untrusted_one(setup, tmp_path):
    """The store holds one approved model; an edited lock that drops it does not get it quarantined."""
    keys, lock, allowed, sigs = setup
    store = tmp_path / "models"
    (store / "blobs").mkdir(parents=True)
    (store / "manifests" / "registry.ollama.ai" / "library" / "tiny").mkdir(parents=True)
    data = b"weights"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (store / "blobs" / digest.replace(":", "-")).write_bytes(data)
    manifest = json.dumps({"layers": [{"digest": digest, "size": len(data),
                                       "mediaType": "application/vnd.ollama.image.model"}]}).encode()
    (store / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "1b").write_bytes(manifest)
    result = mc.verify_store(str(store), mc.Hasher(1))
    lock.write_text(mc.render_lock(mc.lock_from_store(result)))
    sign(keys["alice"][0], lock, sigs / "01.sig")
    config = {"store": str(store), "lock": str(lock), "policy": "quarantine", "quarantine_dir": str(tmp_path / "q"),
              "required_signatures": 1, "allowed_signers": allowed, "signatures_dir": str(sigs),
              "verified_lock": str(tmp_path / "verified.yml")}
    result, findings, code = mc.run_check(config)
    assert code == 0 and result["approval"]["approved_by"] == ["alice@example.com"], findings
    assert (tmp_path / "verified.yml").read_text() == lock.read_text()
    lock.write_text(mc.render_lock({}))  # edited after signing: tiny:1b dropped
    result, findings, code = mc.run_check(config)
    assert code == 1 and findings[0].startswith("lock %s is not trusted" % lock)
    assert result["approval"]["in_force"] == str(tmp_path / "verified.yml")
    assert result["quarantined"] == [] and (store / "manifests/registry.ollama.ai/library/tiny/1b").exists()
    assert "llmsec_model_integrity_lock_trusted 0" in mc.render_metrics(result)
