"""Tamper with a real model store and check that model_integrity notices, names, and contains it."""

import json
import os

import pytest

from scenario_helpers import (Refusals, allowed_signers, approver_keys, assert_refused, case_key, refusals, run_role,
                              sign_lock)

STORE = "/usr/share/ollama/.ollama/models"
MANIFESTS = STORE + "/manifests/registry.ollama.ai/library"
TEXTFILE = "/var/lib/prometheus/node-exporter/llmsec_model_integrity.prom"

testinfra_hosts = ["ansible://llmsec-model-integrity"]


def model_blob(host, model, tag):
    """Path of the model layer (the weights) of model:tag."""
    manifest = json.loads(host.file("%s/%s/%s" % (MANIFESTS, model, tag)).content_string)
    layer = [item for item in manifest["layers"] if item["mediaType"].endswith(".model")][0]
    return "%s/blobs/%s" % (STORE, layer["digest"].replace(":", "-"))


def flip_byte(host, path, offset=4096):
    host.run_test("python3 -c \"import sys; f=open(sys.argv[1],'r+b'); f.seek(%d); b=f.read(1); f.seek(%d); "
                  "f.write(bytes([b[0]^1])); f.close()\" %s" % (offset, offset, path))


def run_service(host):
    return host.run("systemctl start llmsec-model-integrity.service")


def last_report(host):
    """The timer's last JSON line in the journal (systemd's own lines follow it)."""
    lines = host.check_output("journalctl -u llmsec-model-integrity.service -o cat -n 20").splitlines()
    return json.loads([line for line in lines if line.startswith("{")][-1])


def test_timer_is_enabled_and_scheduled(host):
    timer = host.service("llmsec-model-integrity.timer")
    assert timer.is_enabled and timer.is_running
    assert "OnCalendar=daily" in host.file("/etc/systemd/system/llmsec-model-integrity.timer").content_string


def test_service_run_writes_the_textfile(host):
    assert run_service(host).rc == 0
    metrics = host.file(TEXTFILE).content_string
    assert 'llmsec_model_integrity_ok{model="tiny:1b"} 1' in metrics
    assert 'llmsec_model_integrity_ok{model="small:2b"} 1' in metrics
    assert "llmsec_model_integrity_last_run_timestamp_seconds " in metrics
    assert '"status": "ok"' in host.check_output("journalctl -u llmsec-model-integrity.service -o cat -n 5")


def test_flipped_byte_fails_naming_blob_and_model(host):
    blob = model_blob(host, "tiny", "1b")
    flip_byte(host, blob)
    try:
        assert_refused(run_role(host, {}), "tiny:1b: %s does not match its digest" % blob)
        assert run_service(host).rc != 0  # OnFailure= can alert
        metrics = host.file(TEXTFILE).content_string
        assert 'llmsec_model_integrity_ok{model="tiny:1b"} 0' in metrics
        assert 'llmsec_model_integrity_ok{model="small:2b"} 1' in metrics
        assert 'llmsec_model_integrity_findings{kind="mismatched"} 1' in metrics
    finally:
        flip_byte(host, blob)  # flip it back
    assert run_role(host, {}).returncode == 0
    assert run_service(host).rc == 0


def test_traversal_digest_is_invalid_and_nothing_outside_is_read(host):
    evil = MANIFESTS + "/evil/latest"
    host.run_test("mkdir -p %s/evil" % MANIFESTS)
    host.run_test("echo '{\"layers\": [{\"digest\": \"sha256-../../../../../../etc/passwd\", \"size\": 1}]}' > %s"
                  % evil)
    try:
        traced = host.run("strace -f -qq -e trace=open,openat -o /tmp/opens.trace "
                          "/usr/local/lib/llmsec/llmsec-model-verify /etc/llmsec/model-integrity.json")
        assert traced.rc == 1
        report = json.loads(traced.stdout.strip().splitlines()[-1])
        assert report["summary"]["invalid"] == 1
        assert any("evil:latest" in line and "is invalid" in line for line in report["findings"])
        opens = host.file("/tmp/opens.trace").content_string
        assert "blobs/sha256-" in opens  # the trace did see the real blobs being read
        assert "/etc/passwd" not in opens and "../" not in opens
    finally:
        host.run("rm -rf %s/evil /tmp/opens.trace" % MANIFESTS)


def test_unapproved_model_is_quarantined_with_bytes_intact(host):
    host.run_test("ollama pull rogue:1b")
    blob = model_blob(host, "rogue", "1b")
    digest = os.path.basename(blob)[len("sha256-"):]
    assert_refused(run_role(host, {}), "rogue:1b: ")  # enforce: not approved
    result = run_role(host, {"model_integrity_policy": "quarantine"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert not host.file(MANIFESTS + "/rogue/1b").exists
    assert not host.file(blob).exists
    moved = host.check_output("find /var/lib/llmsec/quarantine -name sha256-%s" % digest)
    assert moved
    assert host.check_output("sha256sum %s" % moved).split()[0] == digest
    assert host.file("/var/lib/llmsec/quarantine").mode == 0o700
    assert "rogue" not in host.check_output("ollama list")
    assert run_role(host, {}).returncode == 0  # the approved models still pass


BAD_INPUT = [
    ({"model_integrity_policy": "nuke"}, "model_integrity_policy"),
    ({"model_integrity_files": [{"path": "m.gguf", "sha256": "0" * 64}]}, "model_integrity_files[0] needs an absolute path"),
    ({"model_integrity_store": "models"}, "model_integrity_store must be empty or an absolute path"),
    ({"model_integrity_required_signatures": 1},
     "model_integrity_required_signatures is 1 but model_integrity_allowed_signers names 0 approver(s)"),
    ({"model_integrity_lock_signatures": ["approved by me"]}, "model_integrity_lock_signatures[0] must be an armored"),
]


def test_bad_input_is_refused(host):
    results = refusals(host, [variables for variables, _message in BAD_INPUT])
    for variables, message in BAD_INPUT:
        assert_refused(results[case_key(variables)], message)


# --- signed approvals (last: they leave a signed lock in force) ----------------------------------------------

@pytest.fixture(scope="module")
def approvers():
    """alice and bob approve; mallory has a key too, but nobody listed it."""
    return approver_keys("alice", "bob", "mallory")


def two_person(keys, **extra):
    return dict({"model_integrity_allowed_signers": allowed_signers(keys, "alice", "bob"),
                 "model_integrity_required_signatures": 2}, **extra)


def test_a_lock_signed_by_two_approvers_is_trusted_and_they_are_named(host, approvers):
    text = host.file("/etc/llmsec/models.lock.yml").content_string
    result = run_role(host, two_person(approvers, model_integrity_lock_signatures=sign_lock(
        approvers, text, "alice", "bob")))
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "approved by alice@example.com, bob@example.com." in result.stdout
    assert host.file("/var/lib/llmsec/models.lock.verified.yml").content_string == text
    assert run_service(host).rc == 0
    assert last_report(host)["approval"]["approved_by"] == ["alice@example.com", "bob@example.com"]
    assert "llmsec_model_integrity_lock_trusted 1" in host.file(TEXTFILE).content_string


def test_untrusted_locks_are_refused_and_move_nothing(host, approvers):
    """One approver of two; a key nobody listed; and a lock edited after both signed it (small:2b dropped), with
    the quarantine policy that would move small:2b if the edited lock were believed."""
    text = host.file("/etc/llmsec/models.lock.yml").content_string
    header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
    body = json.loads("".join(line for line in text.splitlines(True) if not line.startswith("#")))
    del body["models"]["small:2b"]
    edited = header + json.dumps(body, indent=2, sort_keys=True) + "\n"
    cases = [
        (two_person(approvers, model_integrity_lock_signatures=sign_lock(approvers, text, "alice")),
         "1 distinct valid signature(s) (alice@example.com) of 2 required"),
        (two_person(approvers, model_integrity_lock_signatures=sign_lock(approvers, text, "alice", "mallory")),
         "made with a key that is not on the allowed signers list"),
        (two_person(approvers, model_integrity_lock_content=edited, model_integrity_policy="quarantine",
                    model_integrity_lock_signatures=sign_lock(approvers, text, "alice", "bob")),
         "signed by alice@example.com but does not verify over this lock"),
    ]

    def state():
        return (host.check_output("find %s -type f | sort" % MANIFESTS),
                host.check_output("find /var/lib/llmsec/quarantine -type f | sort"),
                host.file("/var/lib/llmsec/models.lock.verified.yml").sha256sum)

    refused = Refusals(host, cases, state)
    for variables, message in cases:
        refused.check(variables, message)
    # The timer, on the edited lock the last case left: refused too, and small:2b stays.
    assert run_service(host).rc != 0
    report = last_report(host)
    assert report["approval"]["trusted"] is False and report["quarantined"] == []
    assert host.file(MANIFESTS + "/small/2b").exists
    assert "llmsec_model_integrity_lock_trusted 0" in host.file(TEXTFILE).content_string
