import hashlib
import json
import os

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import model_checksum as mc


def put_blob(store, data):
    digest = hashlib.sha256(data).hexdigest()
    path = store / "blobs" / ("sha256-" + digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "sha256:" + digest, path


def put_model(store, model, tag="latest", payload=b"weights", extra_layers=(), host="registry.ollama.ai",
              namespace="library"):
    layers = []
    for media, data in [("application/vnd.ollama.image.model", payload)] + list(extra_layers):
        digest = put_blob(store, data)[0]
        layers.append({"mediaType": media, "digest": digest, "size": len(data)})
    config = json.dumps({"model": model}).encode()
    config_digest = put_blob(store, config)[0]
    manifest = {"schemaVersion": 2, "config": {"digest": config_digest, "size": len(config)}, "layers": layers}
    raw = json.dumps(manifest).encode()
    path = store / "manifests" / host / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest(), path


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "models"
    put_model(root, "tiny", "1b", payload=b"A" * 5000, extra_layers=[("template", b"shared")])
    put_model(root, "small", "2b", payload=b"B" * 7000, extra_layers=[("template", b"shared")])
    return root


def verify(store, lock=None, workers=2, cache=None):
    return mc.verify_store(str(store), mc.Hasher(workers, cache), lock)


def test_digest_hex():
    assert mc.digest_hex("sha256:" + "a" * 64) == "a" * 64
    assert mc.digest_hex("sha256-" + "b" * 64) == "b" * 64
    for bad in ("sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha256-../../etc/passwd", "md5:" + "a" * 64,
                "sha256:" + "a" * 64 + "/x", None, 5, ""):
        assert mc.digest_hex(bad) is None


def test_model_names():
    assert mc.model_name("registry.ollama.ai", "library", "llama3", "latest") == "llama3:latest"
    assert mc.model_name("registry.ollama.ai", "me", "m", "1") == "me/m:1"
    assert mc.model_name("hf.co", "org", "m", "q4") == "hf.co/org/m:q4"


def test_clean_store_verifies(store):
    result = verify(store)
    assert sorted(result["models"]) == ["small:2b", "tiny:1b"]
    assert len(result["verified"]) == 6  # 3 per model; the shared blob is hashed once
    for key in ("mismatched", "missing", "orphans", "invalid", "unapproved"):
        assert result[key] == []
    manifest = store / "manifests/registry.ollama.ai/library/tiny/1b"
    assert result["models"]["tiny:1b"]["manifest"] == "sha256:" + hashlib.sha256(manifest.read_bytes()).hexdigest()


def test_shared_blob_is_read_once(store):
    hasher = mc.Hasher(2)
    mc.verify_store(str(store), hasher)
    assert hasher.files_hashed == 5  # 2 models + 2 configs + 1 shared template


def test_flipped_byte_names_model_and_blob(store):
    digest, path = put_blob(store, b"A" * 5000)
    data = bytearray(path.read_bytes())
    data[1234] ^= 0x01
    path.write_bytes(bytes(data))
    result = verify(store)
    assert [(e["model"], e["digest"], e["path"]) for e in result["mismatched"]] == [("tiny:1b", digest, str(path))]
    assert result["mismatched"][0]["actual"] != digest
    lines = mc.problems(result)
    assert lines == ["tiny:1b: %s does not match its digest" % path]


def test_size_mismatch_is_caught(tmp_path):
    root = tmp_path / "m"
    digest = put_blob(root, b"data")[0]
    raw = json.dumps({"layers": [{"digest": digest, "size": 99}]}).encode()
    path = root / "manifests/registry.ollama.ai/library/x/latest"
    path.parent.mkdir(parents=True)
    path.write_bytes(raw)
    result = verify(root)
    assert result["mismatched"][0]["expected_size"] == 99


def test_missing_and_orphan_blobs(store):
    path = put_blob(store, b"B" * 7000)[1]
    path.unlink()
    put_blob(store, b"nobody uses me")
    (store / "blobs" / "sha256-abc-partial").write_bytes(b"x")
    result = verify(store)
    assert [e["model"] for e in result["missing"]] == ["small:2b"]
    assert len(result["orphans"]) == 2


def test_bad_manifests_are_findings_not_crashes(store):
    base = store / "manifests/registry.ollama.ai/library"
    (base / "broken").mkdir()
    (base / "broken" / "latest").write_text("{not json")
    (base / "nolayers").mkdir()
    (base / "nolayers" / "latest").write_text('{"schemaVersion": 2}')
    (base / "binary").mkdir()
    (base / "binary" / "latest").write_bytes(b"\xff\xfe\x00")
    (store / "manifests" / "stray").write_text("{}")
    result = verify(store)
    names = sorted(e["model"] for e in result["invalid"])
    assert names == ["binary:latest", "broken:latest", "nolayers:latest", "stray"]
    assert len(result["verified"]) == 6


def test_traversal_digest_is_invalid_and_never_opened(store, tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0")
    evil = {"layers": [{"digest": "sha256-../../../secret", "size": 10},
                       {"digest": "sha256:" + "../" * 20 + "etc/passwd", "size": 10}]}
    path = store / "manifests/registry.ollama.ai/library/evil/latest"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(evil))
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k))
    result = verify(store)
    assert [e["model"] for e in result["invalid"]] == ["evil:latest", "evil:latest"]
    assert "never used as a path" in result["invalid"][0]["reason"]
    real_store = os.path.realpath(str(store))
    assert opened and all(os.path.realpath(p).startswith(real_store + os.sep) for p in opened)


def test_symlinks_are_not_followed(store, tmp_path):
    outside = tmp_path / "outside"
    outside.write_bytes(b"B" * 7000)
    digest, blob = put_blob(store, b"B" * 7000)
    blob.unlink()
    blob.symlink_to(outside)
    link_manifest = store / "manifests/registry.ollama.ai/library/linked"
    link_manifest.mkdir()
    (link_manifest / "latest").symlink_to(outside)
    result = verify(store)
    reasons = " ".join(e["reason"] for e in result["invalid"])
    assert "resolves outside the store" in reasons
    assert "small:2b" in [e["model"] for e in result["invalid"]]
    assert "linked:latest" in [e["model"] for e in result["invalid"]]


def test_symlinked_store_is_refused(store, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(store)
    with pytest.raises(mc.ChecksumError, match="symlinks are not followed"):
        verify(link)


def test_fifo_is_never_read(store):
    digest, blob = put_blob(store, b"B" * 7000)
    blob.unlink()
    os.mkfifo(str(blob))
    result = verify(store)  # would hang if the FIFO were opened for reading
    assert any("not a regular file" in e["reason"] for e in result["invalid"])


def test_lock_roundtrip_and_approval(store, tmp_path):
    result = verify(store)
    lock_file = tmp_path / "models.lock.yml"
    lock_file.write_text(mc.render_lock(mc.lock_from_store(result)))
    lock = mc.load_lock(str(lock_file))
    assert sorted(lock) == ["small:2b", "tiny:1b"]
    assert verify(store, lock)["unapproved"] == []
    put_model(store, "rogue", "7b", payload=b"R" * 100)
    del lock["small:2b"]
    result = verify(store, lock)
    assert sorted((e["model"], e["reason"]) for e in result["unapproved"]) == [
        ("rogue:7b", "not in the lock"), ("small:2b", "not in the lock")]
    lock["tiny:1b"]["manifest"] = "sha256:" + "0" * 64
    assert "differs from the lock" in [e for e in verify(store, lock)["unapproved"] if e["model"] == "tiny:1b"][0]["reason"]


def test_lock_reads_without_pyyaml(store, tmp_path, monkeypatch):
    lock_file = tmp_path / "models.lock.yml"
    lock_file.write_text(mc.render_lock(mc.lock_from_store(verify(store))))
    monkeypatch.setitem(__import__("sys").modules, "yaml", None)  # import yaml -> ImportError
    assert sorted(mc.load_lock(str(lock_file))) == ["small:2b", "tiny:1b"]


def test_locked_model_absent_from_store_is_missing(store):
    lock = mc.lock_from_store(verify(store))
    lock["gone:1b"] = {"manifest": "sha256:" + "1" * 64, "layers": []}
    result = verify(store, lock)
    assert [e["model"] for e in result["missing"]] == ["gone:1b"]


def test_lock_leaves_out_broken_models(store):
    path = put_blob(store, b"A" * 5000)[1]
    path.write_bytes(b"tampered")
    assert sorted(mc.lock_from_store(verify(store))) == ["small:2b"]


def test_quarantine_keeps_bytes_and_shared_blobs(store, tmp_path):
    lock = {"tiny:1b": mc.lock_from_store(verify(store))["tiny:1b"]}
    result = verify(store, lock)
    shared_digest, shared = put_blob(store, b"shared")
    small_digest, small_blob = put_blob(store, b"B" * 7000)
    moves = mc.quarantine_plan(str(store), result, str(tmp_path / "q"))
    moved = [os.path.basename(src) for src, _dst, _name in moves]
    assert "2b" in moved and os.path.basename(str(small_blob)) in moved
    assert os.path.basename(str(shared)) not in moved  # tiny:1b still needs it
    mc.apply_moves(moves, str(tmp_path / "q"))
    assert oct(os.stat(str(tmp_path / "q")).st_mode & 0o777) == "0o700"
    dest = [d for s, d, n in moves if s == str(small_blob)][0]
    assert hashlib.sha256(open(dest, "rb").read()).hexdigest() == small_digest[7:]
    after = verify(store, lock)
    assert sorted(after["models"]) == ["tiny:1b"] and after["mismatched"] == [] and after["missing"] == []


def test_plain_files(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\0" * 100)
    good = hashlib.sha256(gguf.read_bytes()).hexdigest()
    files = [{"path": str(gguf), "sha256": good.upper()}, {"path": str(tmp_path / "gone.gguf"), "sha256": good},
             {"path": str(gguf), "sha256": "sha256:" + "0" * 64}]
    result = mc.verify_files(files[:2], mc.Hasher(1))
    assert len(result["verified"]) == 1 and len(result["missing"]) == 1
    assert len(mc.verify_files(files[2:], mc.Hasher(1))["mismatched"]) == 1
    for bad, message in (([{"path": str(gguf)}], "path and sha256"), ([{"path": "rel.gguf", "sha256": good}], "absolute"),
                         ([{"path": str(gguf), "sha256": "xyz"}], "not 64 hex digits")):
        with pytest.raises(mc.ChecksumError, match=message):
            mc.verify_files(bad, mc.Hasher(1))


def test_cache_skips_unchanged_and_catches_rewrites(store, tmp_path):
    cache_path = str(tmp_path / "cache" / "c.json")
    first = mc.Hasher(2, mc.Cache(cache_path))
    mc.verify_store(str(store), first)
    first.cache.save()
    assert oct(os.stat(cache_path).st_mode & 0o777) == "0o600"
    second = mc.Hasher(2, mc.Cache(cache_path))
    mc.verify_store(str(store), second)
    assert second.bytes_hashed == 0 and second.cache_hits == 5
    # a same-size rewrite with the old mtime put back still changes ctime
    path = put_blob(store, b"A" * 5000)[1]
    info = os.stat(str(path))
    path.write_bytes(b"Z" * 5000)
    os.utime(str(path), ns=(info.st_atime_ns, info.st_mtime_ns))
    third = mc.Hasher(2, mc.Cache(cache_path))
    result = mc.verify_store(str(store), third)
    assert third.files_hashed == 1 and len(result["mismatched"]) == 1


def test_corrupt_cache_is_ignored(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{oops")
    assert mc.Cache(str(path)).entries == {}


def test_parallel_equals_serial_and_memory_is_constant(tmp_path):
    big = tmp_path / "big"
    with open(str(big), "wb") as handle:
        handle.truncate(64 << 20)  # sparse 64 MiB
    serial = mc.Hasher(1).hash_all([str(big)])
    parallel = mc.Hasher(4).hash_all([str(big), str(big)])
    assert serial[str(big)]["sha256"] == parallel[str(big)]["sha256"] == hashlib.sha256(b"\0" * (64 << 20)).hexdigest()


def test_empty_store(tmp_path):
    (tmp_path / "m").mkdir()
    result = verify(tmp_path / "m")
    assert result["models"] == {} and result["verified"] == []
