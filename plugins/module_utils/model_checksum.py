# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Prove that every model byte is the approved one.

Ollama re-hashes a blob only while pulling it; a blob flipped or replaced on
disk later is never checked again (ollama/ollama#7215). This module walks an
Ollama store (``OLLAMA_MODELS``), re-hashes every layer and config blob
against its digest and size, compares models with an approved lock, and
checks plain model files (GGUF, safetensors) against pinned digests.

Pure Python (standard library only), so the Ansible module and the systemd
timer's entry point run the same code on any host with python3.

Safety: a digest must match ``^sha256[:-][0-9a-f]{64}$`` before it becomes a
path (CVE-2024-37032); nothing is opened through a symlink or outside the
store, and only regular files are read (never a device or a FIFO).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from ansible_collections.llmsec.hardening.plugins.module_utils import lock_signature
    from ansible_collections.llmsec.hardening.plugins.module_utils.atomic_file import write_atomic
except ImportError:  # installed beside the model_integrity timer's entry point
    import lock_signature
    from atomic_file import write_atomic

DIGEST_RE = re.compile(r"^sha256[:-]([0-9a-f]{64})$")
PLAIN_SHA256_RE = re.compile(r"^(?:sha256[:-])?([0-9a-fA-F]{64})$")
DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
CHUNK = 1 << 20
CACHE_VERSION = 1


class ChecksumError(Exception):
    """Bad input; the message names the option or path."""


def digest_hex(digest):
    """The 64 hex digits of a valid digest, or None."""
    if not isinstance(digest, str):
        return None
    match = DIGEST_RE.match(digest)
    return match.group(1) if match else None


def model_name(host, namespace, model, tag):
    """Ollama's short name: 'llama3:latest', or 'host/ns/model:tag' off the default registry."""
    if host == DEFAULT_REGISTRY and namespace == DEFAULT_NAMESPACE:
        return "%s:%s" % (model, tag)
    if host == DEFAULT_REGISTRY:
        return "%s/%s:%s" % (namespace, model, tag)
    return "%s/%s/%s:%s" % (host, namespace, model, tag)


def _open_regular(path, root=None):
    """Open a regular file for reading, refusing symlinks, devices, FIFOs and escapes.

    Returns (fd, stat) or raises ChecksumError with the reason.
    """
    if root is not None:
        real_root = os.path.realpath(root)
        real = os.path.realpath(path)
        if os.path.commonpath([real_root, real]) != real_root:
            raise ChecksumError("%s resolves outside the store" % path)
    info = os.lstat(path)  # FileNotFoundError is the caller's "missing"
    if stat.S_ISLNK(info.st_mode):
        raise ChecksumError("%s is a symlink; it is not followed" % path)
    if not stat.S_ISREG(info.st_mode):
        raise ChecksumError("%s is not a regular file" % path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ChecksumError("%s is a symlink; it is not followed" % path)
        raise
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
        os.close(fd)
        raise ChecksumError("%s changed while it was opened" % path)
    return fd, opened


def hash_fd(fd):
    """sha256 of an open file, streamed in 1 MiB reads with constant memory.

    hashlib hashes through OpenSSL (SHA-NI where the CPU has it) and releases
    the GIL on large buffers, so threads hash files in parallel.
    """
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    while True:
        count = os.readv(fd, [buffer])
        if not count:
            break
        digest.update(view[:count])
        total += count
    return digest.hexdigest(), total


class Cache(object):
    """Digests of files that have not changed since they were hashed.

    Keyed by path, valid only while device, inode, size, mtime_ns and ctime_ns
    are all unchanged. ctime cannot be set from user space, so a rewrite with
    a forged mtime still invalidates the entry; a root attacker who can write
    the raw device or the cache itself is out of scope (hence mode 0600).
    """

    def __init__(self, path):
        self.path = path
        self.entries = {}
        self.dirty = False
        if path and os.path.exists(path):
            try:
                with open(path, "r") as handle:
                    data = json.load(handle)
                if data.get("version") == CACHE_VERSION:
                    self.entries = data.get("entries", {})
            except (OSError, ValueError):
                self.entries = {}

    @staticmethod
    def key(info):
        return [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]

    def get(self, path, info):
        entry = self.entries.get(path)
        if entry and entry[0] == self.key(info):
            return entry[1]
        return None

    def put(self, path, info, hexdigest):
        self.entries[path] = [self.key(info), hexdigest]
        self.dirty = True

    def save(self):
        if not self.path or not self.dirty:
            return
        os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
        write_atomic(self.path, json.dumps({"version": CACHE_VERSION, "entries": self.entries}), 0o600)


def _size_or_zero(path):
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


class Hasher(object):
    """Hash each distinct file once, in parallel, through the optional cache."""

    def __init__(self, workers=None, cache=None):
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.cache = cache
        self.bytes_hashed = 0
        self.files_hashed = 0
        self.cache_hits = 0

    def _one(self, path, root):
        try:
            fd, info = _open_regular(path, root)
        except FileNotFoundError:
            return {"state": "missing"}
        except ChecksumError as exc:
            return {"state": "invalid", "reason": str(exc)}
        except OSError as exc:
            return {"state": "invalid", "reason": "%s: %s" % (path, exc.strerror)}
        try:
            cached = self.cache.get(path, info) if self.cache else None
            if cached:
                return {"state": "ok", "sha256": cached, "size": info.st_size, "cached": True}
            hexdigest, size = hash_fd(fd)
        finally:
            os.close(fd)
        if self.cache:
            self.cache.put(path, info, hexdigest)
        return {"state": "ok", "sha256": hexdigest, "size": size, "cached": False}

    def hash_all(self, paths, root=None):
        """{path: result} for each distinct path (each file is read at most once).

        Largest files start first, so that one big model layer does not run
        alone at the end while the other workers sit idle.
        """
        unique = list(dict.fromkeys(paths))
        if self.workers == 1 or len(unique) < 2:
            results = [self._one(path, root) for path in unique]
        else:
            unique.sort(key=_size_or_zero, reverse=True)
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                results = list(pool.map(lambda p: self._one(p, root), unique))
        out = {}
        for path, result in zip(unique, results):
            if result["state"] == "ok":
                if result.get("cached"):
                    self.cache_hits += 1
                else:
                    self.bytes_hashed += result["size"]
                    self.files_hashed += 1
            out[path] = result
        return out


def _read_small_regular(path, root, limit=1 << 20):
    """Read a manifest (a small regular file inside the store)."""
    fd, info = _open_regular(path, root)
    try:
        if info.st_size > limit:
            raise ChecksumError("%s is %d bytes, too large for a manifest" % (path, info.st_size))
        chunks = []
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)
    finally:
        os.close(fd)


def scan_manifests(store):
    """Find manifests: (model name, path, raw bytes or None, error or None)."""
    base = os.path.join(store, "manifests")
    found = []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            parts = os.path.relpath(path, base).split(os.sep)
            name = model_name(*parts) if len(parts) == 4 else "/".join(parts)
            if len(parts) != 4:
                found.append((name, path, None, "not at manifests/<host>/<namespace>/<model>/<tag>"))
                continue
            try:
                found.append((name, path, _read_small_regular(path, store), None))
            except ChecksumError as exc:
                found.append((name, path, None, str(exc)))
            except OSError as exc:
                found.append((name, path, None, exc.strerror))
    return found


def parse_manifest(raw):
    """Layers and config of a manifest as [(digest, size, media type)], or raise ValueError."""
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("layers"), list):
        raise ValueError("no layers list")
    entries = []
    for item in data["layers"] + ([data["config"]] if isinstance(data.get("config"), dict) else []):
        if not isinstance(item, dict):
            raise ValueError("a layer is not an object")
        entries.append((item.get("digest"), item.get("size"), item.get("mediaType", "")))
    return entries


def load_lock(path):
    """Read models.lock.yml. It is written as JSON, which is YAML; PyYAML is used when present."""
    with open(path, "r") as handle:
        return parse_lock(handle.read(), path)


def parse_lock(text, path):
    """The models of a lock's text (path only names it in errors)."""
    try:
        import yaml  # pylint: disable=import-outside-toplevel

        data = yaml.safe_load(text)
    except ImportError:
        # Without PyYAML: the JSON body of a lock this module wrote, comments dropped.
        data = json.loads("\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    if not isinstance(data, dict) or not isinstance(data.get("models", {}), dict):
        raise ChecksumError("%s: expected a mapping with 'models'" % path)
    return data.get("models") or {}


def render_lock(models):
    header = ("# Approved models for llmsec.hardening's model_checksum (mode: lock).\n"
              "# Review every entry, then commit this file. JSON is YAML.\n")
    return header + json.dumps({"models": models}, indent=2, sort_keys=True) + "\n"


def _entry(name, digest, path, **extra):
    entry = {"model": name, "digest": digest, "path": path}
    entry.update(extra)
    return entry


def verify_store(store, hasher, lock=None):
    """Check every manifest's blobs; return the result lists (see module RETURN)."""
    result = {"verified": [], "mismatched": [], "missing": [], "orphans": [], "invalid": [],
              "unapproved": [], "models": {}}
    if not os.path.isdir(store) or os.path.islink(store):
        raise ChecksumError("store %s is not a directory (symlinks are not followed)" % store)
    blobs_dir = os.path.join(store, "blobs")
    wanted = []  # (model, digest, expected size, path)
    for name, path, raw, error in scan_manifests(store):
        if error:
            result["invalid"].append(_entry(name, None, path, reason=error))
            continue
        try:
            layers = parse_manifest(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            result["invalid"].append(_entry(name, None, path, reason="manifest does not parse: %s" % exc))
            continue
        manifest_digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        model = {"manifest": manifest_digest, "manifest_path": path, "layers": []}
        broken = False
        for digest, size, media_type in layers:
            hexdigest = digest_hex(digest)
            if hexdigest is None:
                result["invalid"].append(_entry(name, digest, path, reason="digest is not sha256:<64 hex>; "
                                                "it is never used as a path"))
                broken = True
                continue
            model["layers"].append("sha256:" + hexdigest)
            wanted.append((name, "sha256:" + hexdigest, size, os.path.join(blobs_dir, "sha256-" + hexdigest),
                           media_type))
        model["broken"] = broken
        result["models"][name] = model

    hashed = hasher.hash_all([item[3] for item in wanted], store)
    for name, digest, size, path, media_type in wanted:
        outcome = hashed[path]
        if outcome["state"] == "missing":
            result["missing"].append(_entry(name, digest, path))
        elif outcome["state"] == "invalid":
            result["invalid"].append(_entry(name, digest, path, reason=outcome["reason"]))
        elif "sha256:" + outcome["sha256"] != digest:
            result["mismatched"].append(_entry(name, digest, path, actual="sha256:" + outcome["sha256"],
                                               media_type=media_type))
        elif isinstance(size, int) and size != outcome["size"]:
            result["mismatched"].append(_entry(name, digest, path, actual_size=outcome["size"],
                                               expected_size=size, media_type=media_type))
        else:
            result["verified"].append(_entry(name, digest, path, size=outcome["size"]))

    referenced = set(item[3] for item in wanted)
    if os.path.isdir(blobs_dir):
        for filename in sorted(os.listdir(blobs_dir)):
            path = os.path.join(blobs_dir, filename)
            if path not in referenced:
                result["orphans"].append(_entry(None, None, path))

    if lock is not None:
        for name, model in sorted(result["models"].items()):
            approved = lock.get(name)
            if approved is None:
                result["unapproved"].append(_entry(name, model["manifest"], model["manifest_path"],
                                                   reason="not in the lock"))
            elif approved.get("manifest") != model["manifest"] or \
                    sorted(approved.get("layers", [])) != sorted(model["layers"]):
                result["unapproved"].append(_entry(name, model["manifest"], model["manifest_path"],
                                                   reason="differs from the lock (approved %s)"
                                                   % approved.get("manifest")))
        for name in sorted(set(lock) - set(result["models"])):
            result["missing"].append(_entry(name, lock[name].get("manifest"), None,
                                            reason="approved in the lock but not in the store"))
    return result


def lock_from_store(result):
    """The lock entries for every model whose blobs all verified."""
    bad = set(e["model"] for key in ("mismatched", "missing", "invalid") for e in result[key])
    return dict((name, {"manifest": model["manifest"], "layers": sorted(model["layers"])})
                for name, model in result["models"].items() if name not in bad and not model["broken"])


def verify_files(files, hasher):
    """Plain model files (GGUF, safetensors) against pinned sha256 values."""
    result = {"verified": [], "mismatched": [], "missing": [], "invalid": []}
    expected = {}
    for index, item in enumerate(files or []):
        if not isinstance(item, dict) or "path" not in item or "sha256" not in item:
            raise ChecksumError("files[%d] must be a mapping with path and sha256" % index)
        match = PLAIN_SHA256_RE.match(str(item["sha256"]).strip())
        if not match:
            raise ChecksumError("files[%d].sha256 is not 64 hex digits: %r" % (index, item["sha256"]))
        if not os.path.isabs(item["path"]):
            raise ChecksumError("files[%d].path must be absolute: %r" % (index, item["path"]))
        expected[item["path"]] = match.group(1).lower()
    hashed = hasher.hash_all(list(expected))
    for path, want in expected.items():
        outcome = hashed[path]
        entry = _entry(os.path.basename(path), "sha256:" + want, path)
        if outcome["state"] == "missing":
            result["missing"].append(entry)
        elif outcome["state"] == "invalid":
            entry["reason"] = outcome["reason"]
            result["invalid"].append(entry)
        elif outcome["sha256"] != want:
            entry["actual"] = "sha256:" + outcome["sha256"]
            result["mismatched"].append(entry)
        else:
            entry["size"] = outcome["size"]
            result["verified"].append(entry)
    return result


def _move(source, dest):
    """Move a file, keeping its bytes: rename, or copy + fsync + unlink across filesystems."""
    os.makedirs(os.path.dirname(dest), mode=0o700, exist_ok=True)
    try:
        os.rename(source, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copy2(source, dest)
        with open(dest, "rb") as handle:
            os.fsync(handle.fileno())
        os.unlink(source)


def quarantine_plan(store, result, quarantine_dir):
    """Which files to move for the unapproved models: their manifests, and blobs no approved model uses."""
    unapproved = set(e["model"] for e in result["unapproved"])
    keep = set()
    for name, model in result["models"].items():
        if name not in unapproved:
            keep.update(model["layers"])
    moves = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for name in sorted(unapproved):
        model = result["models"][name]
        rel = os.path.relpath(model["manifest_path"], store)
        moves.append((model["manifest_path"], os.path.join(quarantine_dir, stamp, rel), name))
        for digest in model["layers"]:
            if digest not in keep:
                blob = os.path.join(store, "blobs", "sha256-" + digest_hex(digest))
                target = os.path.join(quarantine_dir, stamp, "blobs", os.path.basename(blob))
                if os.path.lexists(blob) and (blob, target, name) not in moves:
                    moves.append((blob, target, name))
                    keep.add(digest)  # shared by two unapproved models: move once
    return moves


def apply_moves(moves, quarantine_dir):
    os.makedirs(quarantine_dir, mode=0o700, exist_ok=True)
    os.chmod(quarantine_dir, 0o700)
    for source, dest, _name in moves:
        _move(source, dest)


def summary(result):
    counts = dict((key, len(result.get(key, []))) for key in
                  ("verified", "mismatched", "missing", "orphans", "invalid", "unapproved"))
    return counts


def problems(result):
    """Human-readable findings, one per model and blob: what policy enforce fails on."""
    lines = []
    for key, verb in (("mismatched", "does not match its digest"), ("missing", "is missing"),
                      ("invalid", "is invalid"), ("unapproved", "is not approved")):
        for entry in result.get(key, []):
            what = entry.get("path") or entry.get("digest") or ""
            reason = entry.get("reason")
            detail = " (%s)" % reason if reason else ""
            lines.append("%s: %s %s%s" % (entry.get("model") or "-", what, verb, detail))
    return lines


def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(result, now=None):
    """node_exporter textfile: one 1/0 gauge per model, finding counts, and the time of the check."""
    failed = set(e.get("model") for key in ("mismatched", "missing", "invalid", "unapproved")
                 for e in result.get(key, []))
    lines = [
        "# HELP llmsec_model_integrity_ok 1 if every blob of the model matches its digest and the model is approved.",
        "# TYPE llmsec_model_integrity_ok gauge",
    ]
    for name in sorted(result.get("models", {})):
        lines.append('llmsec_model_integrity_ok{model="%s"} %d' % (_label(name), 0 if name in failed else 1))
    lines += ["# HELP llmsec_model_integrity_findings Findings of the last check, by kind.",
              "# TYPE llmsec_model_integrity_findings gauge"]
    for key, count in sorted(summary(result).items()):
        lines.append('llmsec_model_integrity_findings{kind="%s"} %d' % (key, count))
    approval = result.get("approval")
    if approval is not None:
        lines += ["# HELP llmsec_model_integrity_lock_trusted 1 if enough allowed approvers signed the lock.",
                  "# TYPE llmsec_model_integrity_lock_trusted gauge",
                  "llmsec_model_integrity_lock_trusted %d" % (1 if approval["trusted"] else 0),
                  "# HELP llmsec_model_integrity_lock_approvers Distinct allowed approvers whose signature verifies.",
                  "# TYPE llmsec_model_integrity_lock_approvers gauge",
                  "llmsec_model_integrity_lock_approvers %d" % len(approval["approved_by"])]
    lines += ["# HELP llmsec_model_integrity_bytes_hashed Bytes hashed by the last check.",
              "# TYPE llmsec_model_integrity_bytes_hashed gauge",
              "llmsec_model_integrity_bytes_hashed %d" % result.get("bytes_hashed", 0),
              "# HELP llmsec_model_integrity_last_run_timestamp_seconds When the last check finished.",
              "# TYPE llmsec_model_integrity_last_run_timestamp_seconds gauge",
              "llmsec_model_integrity_last_run_timestamp_seconds %.3f" % (time.time() if now is None else now)]
    return "\n".join(lines) + "\n"


def run_check(config, apply=True):
    """One full check from a config dict: the module and the timer's entry point both use this.

    Keys: store, files, lock, policy, cache, cache_path, quarantine_dir, workers; and for signed locks
    required_signatures, allowed_signers, signatures_dir (default: the lock's path + .sig.d), verified_lock.
    With apply=False (check mode) quarantine is planned, not done, and the
    cache is not written. Returns (result, findings, exit code).
    """
    started = time.time()
    cache = Cache(config.get("cache_path")) if config.get("cache") else None
    hasher = Hasher(config.get("workers"), cache)
    result = {"verified": [], "mismatched": [], "missing": [], "orphans": [], "invalid": [], "unapproved": [],
              "models": {}, "quarantined": []}
    lock, policy, approval = _trusted_lock(config, apply)
    if approval is not None:
        result["approval"] = approval
    if config.get("store"):
        result.update(verify_store(config["store"], hasher, lock))
    for key, entries in verify_files(config.get("files") or [], hasher).items():
        result[key].extend(entries)
    if policy == "quarantine" and result["unapproved"]:
        moves = quarantine_plan(config["store"], result, config["quarantine_dir"])
        if apply:
            apply_moves(moves, config["quarantine_dir"])
        result["quarantined"] = [{"model": name, "path": src, "to": dst} for src, dst, name in moves]
        result["unapproved"] = []
    if cache is not None and apply:
        cache.save()
    result["bytes_hashed"] = hasher.bytes_hashed
    result["cache_hits"] = hasher.cache_hits
    result["seconds"] = round(time.time() - started, 3)
    findings = problems(result)
    code = 1 if findings and policy != "warn" else 0
    if approval is not None and not approval["trusted"]:
        findings.insert(0, lock_signature.finding(approval, config["lock"]))
        code = 1  # an untrusted lock fails whatever the policy
    return result, findings, code


def _trusted_lock(config, apply):
    """(lock models, policy, approval) for this run. Without required signatures: the lock as it is. With them:
    the lock when enough allowed principals signed its exact bytes (kept as the last verified lock); otherwise
    the last verified lock (or none) and no quarantine, so that an edited lock cannot move a model away."""
    policy = config.get("policy")
    required = int(config.get("required_signatures") or 0)
    if not config.get("lock"):
        return None, policy, None
    if required <= 0:
        return load_lock(config["lock"]), policy, None
    try:
        signatures = lock_signature.signature_files(config.get("signatures_dir") or config["lock"] + ".sig.d")
        with open(config["lock"], "rb") as handle:
            data = handle.read()  # read once: verified, parsed and kept are the same bytes
        approval = lock_signature.verify(data, signatures, config["allowed_signers"], required)
    except FileNotFoundError as exc:
        if exc.filename == "ssh-keygen":
            raise ChecksumError("required_signatures needs OpenSSH's ssh-keygen on the host (Debian and Ubuntu: "
                                "openssh-client), which is not installed")
        raise
    verified = config.get("verified_lock")
    if approval["trusted"]:
        lock = parse_lock(data.decode("utf-8"), config["lock"])
        if verified and apply:
            write_atomic(verified, data, 0o600)
        return lock, policy, approval
    previous = load_lock(verified) if verified and os.path.exists(verified) else None
    approval["in_force"] = verified if previous is not None else None
    return previous, "enforce" if policy == "quarantine" else policy, approval
