"""The model_checksum module on a real store in tmp_path."""

import os

from ansible_collections.llmsec.hardening.plugins.module_utils import model_checksum as mc
from ansible_collections.llmsec.hardening.plugins.modules import model_checksum

from ..module_utils.test_model_checksum import put_blob, put_model


def make_store(tmp_path):
    store = tmp_path / "models"
    put_model(store, "tiny", "1b", payload=b"A" * 5000)
    put_model(store, "small", "2b", payload=b"B" * 7000)
    return store


def test_lock_then_enforce_then_tamper(run_module, tmp_path):
    store = make_store(tmp_path)
    lock = tmp_path / "etc" / "models.lock.yml"
    written = run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "mode": "lock"}, diff=True)
    assert written.kind == "exit" and written.result["changed"] and lock.exists()
    assert "diff" in written.result
    again = run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "mode": "lock"})
    assert not again.result["changed"]

    ok = run_module(model_checksum.main, {"store": str(store), "lock": str(lock)})
    assert ok.kind == "exit" and not ok.result["changed"] and ok.result["summary"]["verified"] == 4
    assert ok.result["bytes_hashed"] > 12000

    blob = put_blob(store, b"A" * 5000)[1]
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    failed = run_module(model_checksum.main, {"store": str(store), "lock": str(lock)})
    assert failed.kind == "fail"
    assert "tiny:1b: %s does not match its digest" % blob in failed.result["msg"]

    warned = run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "policy": "warn"})
    assert warned.kind == "exit" and len(warned.result["mismatched"]) == 1


def test_quarantine_in_check_mode_moves_nothing(run_module, tmp_path):
    store = make_store(tmp_path)
    lock = tmp_path / "models.lock.yml"
    run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "mode": "lock"})
    put_model(store, "rogue", "7b", payload=b"R" * 100)
    args = {"store": str(store), "lock": str(lock), "policy": "quarantine", "quarantine_dir": str(tmp_path / "q")}
    checked = run_module(model_checksum.main, args, check=True)
    assert checked.kind == "exit" and checked.result["changed"]
    assert [q["model"] for q in checked.result["quarantined"]][0] == "rogue:7b"
    assert (store / "manifests/registry.ollama.ai/library/rogue/7b").exists()
    assert not (tmp_path / "q").exists()
    moved = run_module(model_checksum.main, args)
    assert moved.kind == "exit" and moved.result["changed"]
    assert not (store / "manifests/registry.ollama.ai/library/rogue/7b").exists()
    assert run_module(model_checksum.main, {"store": str(store), "lock": str(lock)}).kind == "exit"


def test_missing_lock_and_bad_options(run_module, tmp_path):
    store = make_store(tmp_path)
    result = run_module(model_checksum.main, {"store": str(store), "lock": str(tmp_path / "nope.yml")})
    assert result.kind == "fail" and "create it with mode: lock" in result.result["msg"]
    assert run_module(model_checksum.main, {"mode": "lock", "store": str(store)}).kind == "fail"
    assert run_module(model_checksum.main, {}).kind == "fail"
    bad = run_module(model_checksum.main, {"store": str(store), "workers": 0})
    assert bad.kind == "fail" and "workers" in bad.result["msg"]
    files = run_module(model_checksum.main, {"files": [{"path": "relative.gguf", "sha256": "0" * 64}]})
    assert files.kind == "fail" and "files[0].path must be absolute" in files.result["msg"]


def test_cache_option(run_module, tmp_path):
    store = make_store(tmp_path)
    cache = tmp_path / "cache.json"
    args = {"store": str(store), "cache": True, "cache_path": str(cache)}
    first = run_module(model_checksum.main, args)
    second = run_module(model_checksum.main, args)
    assert first.result["bytes_hashed"] > 0 and second.result["bytes_hashed"] == 0
    assert second.result["cache_hits"] == 4
    full = run_module(model_checksum.main, dict(args, mode="full"))
    assert full.result["bytes_hashed"] == first.result["bytes_hashed"] and full.result["cache_hits"] == 0
    assert os.stat(str(cache)).st_mode & 0o077 == 0
    assert mc.Cache(str(cache)).entries


def test_required_signatures_need_the_approvers(run_module, tmp_path):
    store = make_store(tmp_path)
    lock = tmp_path / "models.lock.yml"
    run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "mode": "lock"})
    out = run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "required_signatures": 1})
    assert out.kind == "fail" and out.result["msg"] == "required_signatures needs lock and allowed_signers"


def test_an_unsigned_lock_fails_with_the_approvers_named(run_module, tmp_path):
    store = make_store(tmp_path)
    lock = tmp_path / "models.lock.yml"
    run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "mode": "lock"})
    allowed = tmp_path / "allowed"
    allowed.write_text("")
    out = run_module(model_checksum.main, {"store": str(store), "lock": str(lock), "required_signatures": 1,
                                           "allowed_signers": str(allowed),
                                           "verified_lock": str(tmp_path / "verified.yml")})
    assert out.kind == "fail" and "is not trusted: 0 distinct valid signature(s) (none) of 1 required" in out.result["msg"]
    assert out.result["approval"]["trusted"] is False and out.result["approval"]["in_force"] is None
    assert not (tmp_path / "verified.yml").exists()
