"""Benchmark: what rag_ingest_guard's model stage adds per document, against the Ollama stand-in.

    python3 tests/bench/rag_model_stage.py [--guard-ms 0,50] [--rounds 3]   (as root: the child runs as nobody)

The inbox service's own code (llmsec-rag-inbox and the module_utils it imports, copied beside it
as the role installs them) empties an inbox holding the corpus (tests/data/rag_corpus and
rag_heldout) three ways in one run: rules only; rules and the model stage, each document's text
handed to a child process running as `nobody` that asks the stand-in's Granite Guardian over
loopback; and the model stage with a guard that takes --guard-ms to answer (a stand-in for a real
model's latency). Prints documents per second, milliseconds per document and what the stage
adds, split into the guard's answer (the decision record's latency) and the rest (the pipe to the
child, the chunking, the child's start once per run). The stand-in is not a real guard: a real one's time
per chunk is in roles/rag_ingest_guard/README.md.
"""

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UTILS = os.path.join(ROOT, "plugins", "module_utils")
INBOX = os.path.join(ROOT, "roles", "rag_ingest_guard", "files", "llmsec-rag-inbox")
STANDIN = os.path.join(ROOT, "tests", "ollama_standin", "ollama")
CORPUS = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "rag_*", "*", "*")))
GUARD = "granite3-guardian:2b"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_standin(tmp, guard_ms):
    port = free_port()
    env = dict(os.environ, OLLAMA_HOST="127.0.0.1:%d" % port, OLLAMA_MODELS=os.path.join(tmp, "models"),
               HOME=tmp, OLLAMA_STANDIN_PULL_SIZE="1024", OLLAMA_STANDIN_GUARD_DELAY=str(guard_ms / 1000.0))
    # Its own process group: the model runners it starts go with it.
    proc = subprocess.Popen([sys.executable, STANDIN, "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    url = "http://127.0.0.1:%d" % port
    for _attempt in range(100):
        try:
            urllib.request.urlopen(url + "/api/version", timeout=1).read()
            break
        except OSError:
            time.sleep(0.1)
    subprocess.run([sys.executable, STANDIN, "pull", GUARD], env=env, check=True, stdout=subprocess.DEVNULL)
    return proc, url


def install(tmp):
    """The host library as the role lays it out: root-owned code nobody else may change, readable by all."""
    lib = os.path.join(tmp, "lib")
    os.makedirs(lib)
    for name in ("rag_scan", "rag_rules", "guard_model"):
        shutil.copy(os.path.join(UTILS, name + ".py"), lib)
    shutil.copy(INBOX, lib)
    for path in [tmp, lib] + glob.glob(os.path.join(lib, "*")):
        os.chmod(path, 0o755)
    return os.path.join(lib, "llmsec-rag-inbox")


def run_inbox(program, tmp, model_stage):
    """Empty an inbox holding the corpus once; (seconds, decisions)."""
    base = tempfile.mkdtemp(dir=tmp)
    os.chmod(base, 0o755)  # the child (nobody) reads the configuration
    dirs = {name: os.path.join(base, name) for name in ("inbox", "clean", "quarantine", "sanitized")}
    for directory in dirs.values():
        os.makedirs(directory)
    for index, path in enumerate(CORPUS):
        shutil.copy(path, os.path.join(dirs["inbox"], "%03d-%s" % (index, os.path.basename(path))))
    past = time.time() - 60
    for name in os.listdir(dirs["inbox"]):
        os.utime(os.path.join(dirs["inbox"], name), (past, past))
    config = {"inbox_dir": dirs["inbox"], "clean_dir": dirs["clean"], "quarantine_dir": dirs["quarantine"],
              "sanitized_dir": dirs["sanitized"], "fail_on": "medium", "rules": None, "settle_seconds": 0,
              "ingester_gid": 0, "max_seconds": 600, "model_stage": model_stage}
    config_path = os.path.join(base, "rag-inbox.json")
    with open(config_path, "w") as handle:
        json.dump(config, handle)
    os.chmod(config_path, 0o644)
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/python3", program, config_path], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    decisions = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    shutil.rmtree(base)
    return seconds, decisions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guard-ms", default="0,50", help="the guard's answer time, per case (ms)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per case (the median is printed)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the model stage's child runs as nobody")
    size = sum(os.path.getsize(path) for path in CORPUS)
    print("rag_ingest_guard model stage: %d documents (%.1f MB), %d cores shared by the inbox, its children and "
          "the stand-in; median of %d rounds" % (len(CORPUS), size / 1e6, os.cpu_count(), args.rounds))
    tmp = tempfile.mkdtemp(prefix="llmsec-rag-bench-")
    os.chmod(tmp, 0o755)
    program = install(tmp)
    header = ("case", "docs/s", "ms/doc", "adds ms/doc", "guard ms/doc", "rest ms/doc", "flagged")
    print("%-32s %9s %9s %12s %12s %12s %10s" % header)
    baseline = None
    procs = []
    try:
        cases = [("rules only", None)]
        for guard_ms in [int(value) for value in args.guard_ms.split(",")]:
            proc, url = start_standin(os.path.join(tmp, "standin-%d" % guard_ms), guard_ms)
            procs.append(proc)
            cases.append(("rules + model stage, guard %d ms" % guard_ms, {
                "url": url, "model": GUARD, "protocol": "granite_guardian", "risk": "jailbreak",
                "block_categories": [], "policy": "either", "fail_mode": "closed", "timeout": 120,
                "chunk_chars": 6000, "max_chunks": 32, "user": "nobody"}))
        for label, stage in cases:
            runs = [run_inbox(program, tmp, stage) for _round in range(args.rounds)]
            seconds = statistics.median(run[0] for run in runs)
            decisions = runs[0][1]
            assert len(decisions) == len(CORPUS), (label, len(decisions))
            errors = [d["model"]["error"] for d in decisions if d.get("model", {}).get("verdict") == "error"]
            assert not errors, errors[:3]
            per_doc = seconds * 1000 / len(CORPUS)
            guard = statistics.median(sum(d["model"]["latency_ms"] for d in run[1] if "model" in d) / len(CORPUS)
                                      for run in runs) if stage else 0.0
            if baseline is None:
                baseline = per_doc
            adds = per_doc - baseline
            flagged = sum(1 for d in decisions if d["decision"] == "quarantined")
            print("%-32s %9.1f %9.2f %12s %12s %12s %10d" % (
                label, len(CORPUS) / seconds, per_doc, "-" if not stage else "%.2f" % adds,
                "-" if not stage else "%.2f" % guard, "-" if not stage else "%.2f" % (adds - guard), flagged))
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("guard ms/doc: the decision records' model latency (the child's HTTP calls to the stand-in, all chunks); "
          "rest: the text through the pipe to the child and back, the chunking, and the child's start (once per run)")


if __name__ == "__main__":
    main()
