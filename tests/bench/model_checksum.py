"""Benchmark: hashing a synthetic Ollama store with model_checksum, against
`sha256sum` and `openssl dgst -sha256` over the same files, in one run.

    python3 tests/bench/model_checksum.py [--gib 8] [--dir /var/tmp]

Prints GB/s and peak memory (max RSS) for each, the single-file ratio to
openssl, and the re-verify time with the cache. Every contender runs in its
own process so that peak memory is its own. Figures are with a warm page
cache unless the script could drop caches (it says which).
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UTILS = os.path.join(ROOT, "plugins", "module_utils")

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
import model_checksum as mc
store, workers, cache = sys.argv[2], int(sys.argv[3]), sys.argv[4]
hasher = mc.Hasher(workers, mc.Cache(cache) if cache != "-" else None)
start = time.perf_counter()
if store.startswith("file:"):
    hasher.hash_all([store[5:]])
else:
    result = mc.verify_store(store, hasher)
    assert not result["mismatched"] and not result["missing"], result
seconds = time.perf_counter() - start
if hasher.cache is not None:
    hasher.cache.save()
print(json.dumps({"seconds": seconds, "bytes": hasher.bytes_hashed,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_store(base, gib):
    """Blobs of mixed sizes (one large model layer, a few medium, many small) plus manifests."""
    store = os.path.join(base, "models")
    os.makedirs(os.path.join(store, "blobs"))
    total = int(gib * (1 << 30))
    # Like a store with a few models: large weight layers, medium projectors, many small files.
    sizes = [total // 8] * 4 + [total // 32] * 12 + [total // 512] * 48
    sizes.append(max(4096, total - sum(sizes)))
    layers = []
    for index, size in enumerate(sizes):
        chunk = os.urandom(1 << 20)  # distinct per file, so that no two blobs share a digest
        digest = hashlib.sha256()
        tmp = os.path.join(store, "blobs", "tmp-%d" % index)
        with open(tmp, "wb") as handle:
            left = size
            while left:
                piece = chunk[:min(left, len(chunk))]
                handle.write(piece)
                digest.update(piece)
                left -= len(piece)
        name = "sha256-" + digest.hexdigest()
        os.rename(tmp, os.path.join(store, "blobs", name))
        layers.append({"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + name[7:],
                       "size": size})
    for model in range(4):
        path = os.path.join(store, "manifests", "registry.ollama.ai", "library", "bench%d" % model, "latest")
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as handle:
            json.dump({"schemaVersion": 2, "layers": layers[model::4]}, handle)
    files = [os.path.join(store, "blobs", "sha256-" + layer["digest"][7:]) for layer in layers]
    return store, files, sum(sizes)


def drop_caches():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as handle:
            handle.write("3\n")
        return True
    except OSError:
        return False


# Runs one command as its only child, so that RUSAGE_CHILDREN is that command's own peak memory.
WRAPPER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
out = subprocess.run(sys.argv[1:], check=True, capture_output=True, text=True).stdout
print(json.dumps({"seconds": time.perf_counter() - start, "out": out,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def measure(command, cold):
    """(seconds, stdout, max RSS in KiB) of one command."""
    if cold:
        drop_caches()
    report = json.loads(subprocess.run([sys.executable, "-c", WRAPPER] + command, check=True,
                                       capture_output=True, text=True).stdout)
    return report["seconds"], report["out"], report["maxrss_kb"]


def ours(target, workers, cold, cache="-"):
    """(hashing seconds, max RSS KiB, bytes hashed) of model_checksum in its own process."""
    _seconds, out, rss = measure([sys.executable, "-c", CHILD, UTILS, target, str(workers), cache], cold)
    report = json.loads(out)
    return report["seconds"], rss, report["bytes"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=float(os.environ.get("LLMSEC_BENCH_GIB", "4")))
    parser.add_argument("--dir", default=os.environ.get("LLMSEC_BENCH_DIR", "/var/tmp"))
    parser.add_argument("--warm", action="store_true", help="do not drop the page cache between runs")
    args = parser.parse_args()
    for tool in ("sha256sum", "openssl"):
        if not shutil.which(tool):
            sys.exit("%s is needed for the comparison" % tool)

    base = tempfile.mkdtemp(prefix="llmsec-bench-", dir=args.dir)
    try:
        print("building a %.1f GiB synthetic store in %s ..." % (args.gib, base))
        store, files, total = make_store(base, args.gib)
        cold = False if args.warm else drop_caches()
        state = "dropped before each run (cold)" if cold else "could not be dropped here: warm-cache figures"
        print("page cache: %s" % state)
        cpus = os.cpu_count() or 1
        gb = total / 1e9
        rows = []
        seconds, rss, hashed = ours(store, cpus, cold)
        assert hashed == total
        rows.append(("model_checksum (%d workers)" % cpus, seconds, rss))
        seconds, rss, dummy = ours(store, 1, cold)
        rows.append(("model_checksum (1 worker)", seconds, rss))
        seconds, _out, rss = measure(["sha256sum"] + files, cold)
        rows.append(("sha256sum (serial)", seconds, rss))
        seconds, _out, rss = measure(["openssl", "dgst", "-sha256"] + files, cold)
        rows.append(("openssl dgst -sha256 (serial)", seconds, rss))
        parallel = "printf '%%s\\0' \"$@\" | xargs -0 -P %d -n 4 openssl dgst -sha256" % cpus
        seconds, _out, rss = measure(["sh", "-c", parallel, "sh"] + files, cold)
        rows.append(("openssl dgst, xargs -P %d" % cpus, seconds, rss))

        title = "store of %.2f GB, %d files" % (gb, len(files))
        print("\n%-32s %9s %9s %14s" % (title, "seconds", "GB/s", "max RSS (MiB)"))
        for label, seconds, rss in rows:
            print("%-32s %9.2f %9.2f %14s" % (label, seconds, gb / seconds, "%.0f" % (rss / 1024.0)))
        print("(seconds: hashing only for model_checksum, which also parses manifests and checks sizes; "
              "whole command for the others; max RSS of the xargs row is the largest of its children)")

        # Hashing speed proper: the file in the page cache, best of 3 for each.
        largest = files[0]
        size = os.path.getsize(largest) / 1e9
        subprocess.run(["cat", largest], check=True, stdout=subprocess.DEVNULL)
        mine = min(ours("file:" + largest, 1, False)[0] for _run in range(3))
        theirs = min(measure(["openssl", "dgst", "-sha256", largest], False)[0] for _run in range(3))
        print("\nsingle file of %.2f GB, warm, best of 3: model_checksum %.2f GB/s, openssl %.2f GB/s, "
              "ratio %.2f (target >= 0.90)" % (size, size / mine, size / theirs, theirs / mine))

        cache = os.path.join(base, "cache.json")
        ours(store, cpus, cold, cache)
        seconds, _rss, hashed = ours(store, cpus, cold, cache)
        print("re-verify with the cache: %.3f s, %d bytes hashed (metadata only)" % (seconds, hashed))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
