"""Benchmark: what each fleet host costs the central Prometheus (monitoring_server), measured with Debian's
prometheus scraping N synthetic fleet hosts, to extrapolate to a fleet of 500.

    python3 tests/bench/fleet_monitoring.py [--hosts 0,50,100,200] [--minutes 3] [--interval 30s]

Each synthetic host serves what a real one serves through its nginx: the node exporter's and the auth gateway's
metrics as captured from the full_stack scenario's hosts (tests/data/fleet_metrics/*.prom), with every value
moved a little at each scrape so that Prometheus stores changing samples. Prometheus (the binary of Debian's
package, unpacked into a cache, never installed) scrapes them for --minutes at --interval with the central
host's relabelling; then its memory (VmRSS, and heap in use), head series, CPU seconds and scrape times are
read. The increase over the run with 0 hosts, divided by the hosts, is the cost per host. Prints a table and the
extrapolation to 500 hosts; asserts nothing.
"""

import argparse
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data", "fleet_metrics")
CACHE = os.environ.get("LLMSEC_PROMETHEUS_CACHE", "/var/cache/llmsec-prometheus-bench")


def prometheus_binary():
    """Debian's prometheus binary, unpacked once into CACHE (through the test package cache when it answers)."""
    binary = os.path.join(CACHE, "usr", "bin", "prometheus")
    if os.access(binary, os.X_OK):
        return binary
    scratch = tempfile.mkdtemp()
    try:
        proxy = []
        try:
            socket.create_connection(("127.0.0.1", 3150), timeout=1).close()
            proxy = ["-o", "Acquire::http::Proxy=http://127.0.0.1:3150"]
        except OSError:
            pass
        if subprocess.run(["apt-get", "download", "-qq"] + proxy + ["prometheus"], cwd=scratch,
                          capture_output=True, check=False).returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"] + proxy, check=True, capture_output=True)
            subprocess.run(["apt-get", "download", "-qq"] + proxy + ["prometheus"], cwd=scratch, check=True,
                           capture_output=True)
        subprocess.run(["dpkg-deb", "-x", glob.glob(os.path.join(scratch, "prometheus_*.deb"))[0],
                        os.path.join(scratch, "root")], check=True)
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        shutil.copy(os.path.join(scratch, "root", "usr", "bin", "prometheus"), binary + ".tmp")
        os.chmod(binary + ".tmp", 0o755)
        os.rename(binary + ".tmp", binary)
    finally:
        shutil.rmtree(scratch)
    return binary


def load_payloads():
    payloads = {}
    for path in sorted(glob.glob(os.path.join(DATA, "*.prom"))):
        lines = []
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                if line.startswith("#") or not line.strip():
                    lines.append((line, None))
                    continue
                name, _space, value = line.rpartition(" ")
                try:
                    lines.append((name, float(value)))
                except ValueError:
                    lines.append((line, None))
        payloads[os.path.splitext(os.path.basename(path))[0]] = lines
    if not payloads:
        sys.exit("no captured metrics in %s" % DATA)
    return payloads


class Fleet(BaseHTTPRequestHandler):
    """GET /<host>/<job>: that job's captured payload, each value moved by up to 1 %."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = self.path.strip("/").split("/")
        lines = self.server.payloads.get(parts[-1]) if len(parts) == 2 else None
        if lines is None:
            self.send_error(404)
            return
        jitter = random.Random(self.path + str(int(time.time())))
        body = "\n".join(text if value is None else "%s %r" % (text, value * (1 + jitter.uniform(-0.01, 0.01)))
                         for text, value in lines).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def query(port, expression):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.request.quote(expression))
    with urllib.request.urlopen(url, timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return sum(float(sample["value"][1]) for sample in result)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(binary, hosts, minutes, interval, fleet_port, jobs):
    workdir = tempfile.mkdtemp(prefix="llmsec-fleet-bench-")
    port = free_port()
    targets = [{"targets": ["127.0.0.1:%d" % fleet_port],
                "labels": {"host": "fleet-%04d" % index, "shape": "native", "groups": "ollama_native,ollama_servers",
                           "job": job, "__metrics_path__": "/fleet-%04d/%s" % (index, job)}}
               for job in jobs for index in range(hosts)]
    with open(os.path.join(workdir, "targets.json"), "w", encoding="utf-8") as handle:
        json.dump(targets, handle)
    with open(os.path.join(workdir, "prometheus.yml"), "w", encoding="utf-8") as handle:
        json.dump({"global": {"scrape_interval": interval, "evaluation_interval": interval},
                   "scrape_configs": [
                       {"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:%d" % port]}]},
                       {"job_name": "fleet", "honor_labels": False,
                        "file_sd_configs": [{"files": [os.path.join(workdir, "targets.json")]}],
                        "relabel_configs": [{"source_labels": ["host"], "target_label": "instance"}]}]}, handle)
    process = subprocess.Popen([binary, "--config.file=" + os.path.join(workdir, "prometheus.yml"),
                                "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                                "--web.listen-address=127.0.0.1:%d" % port],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(minutes * 60)
        figures = {
            "head_series": query(port, 'prometheus_tsdb_head_series{job="prometheus"}'),
            "heap_mib": query(port, 'go_memstats_heap_inuse_bytes{job="prometheus"}') / 2 ** 20,
            "scrape_seconds": (query(port, 'avg(scrape_duration_seconds{job!="prometheus"})') if hosts else 0.0),
            "samples_per_host": (query(port, 'sum(scrape_samples_scraped{job!="prometheus"})') / hosts if hosts else 0.0),
        }
        with open("/proc/%d/status" % process.pid, encoding="ascii") as handle:
            rss = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
        with open("/proc/%d/stat" % process.pid, encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        figures["rss_mib"] = rss / 1024
        figures["cpu_seconds"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        disk = sum(os.path.getsize(os.path.join(base, name)) for base, _dirs, names in
                   os.walk(os.path.join(workdir, "data")) for name in names)
        figures["disk_mib"] = disk / 2 ** 20
        return figures
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="0,50,100,200")
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--interval", default="30s")
    args = parser.parse_args()
    binary = prometheus_binary()
    payloads = load_payloads()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fleet)
    server.payloads = payloads
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("Debian's %s; payload per host: %s lines; scrape every %s for %.1f min per run" % (
        subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.splitlines()[0],
        {job: len(lines) for job, lines in payloads.items()}, args.interval, args.minutes))
    print("%6s %12s %10s %9s %10s %12s %10s %10s" % (
        "hosts", "head series", "RSS MiB", "heap MiB", "CPU s", "scrape s", "disk MiB", "samples/h"))
    results = {}
    for hosts in [int(value) for value in args.hosts.split(",")]:
        figures = run(binary, hosts, args.minutes, args.interval, server.server_address[1], sorted(payloads))
        results[hosts] = figures
        print("%6d %12d %10.1f %9.1f %10.2f %12.4f %10.1f %10.0f" % (
            hosts, figures["head_series"], figures["rss_mib"], figures["heap_mib"], figures["cpu_seconds"],
            figures["scrape_seconds"], figures["disk_mib"], figures["samples_per_host"]))
    base, top = min(results), max(results)
    if top > base:
        per = {key: (results[top][key] - results[base][key]) / (top - base)
               for key in ("head_series", "rss_mib", "heap_mib", "cpu_seconds", "disk_mib")}
        runs = args.minutes * 60
        print("per host (runs %d and %d): %.0f series, %.2f MiB RSS, %.2f MiB heap, %.3f CPU-s per %d s of scraping, "
              "%.2f MiB of disk per %.0f min" % (
                  base, top, per["head_series"], per["rss_mib"], per["heap_mib"], per["cpu_seconds"], runs,
                  per["disk_mib"], args.minutes))
        print("500 hosts, extrapolated linearly: %.0f series, %.0f MiB RSS, %.2f CPU cores" % (
            results[base]["head_series"] + 500 * per["head_series"], results[base]["rss_mib"] + 500 * per["rss_mib"],
            500 * per["cpu_seconds"] / runs))
    server.shutdown()


if __name__ == "__main__":
    main()
