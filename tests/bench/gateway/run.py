"""Benchmark: what the auth gateway costs, in one run, against the obvious alternatives.

    python3 tests/bench/gateway/run.py [--seconds 10] [--connections 16] [--streams 256,1024]

Upstreams that are not the bottleneck: nginx answering a fixed /api/generate JSON, and a raw
asyncio server streaming NDJSON (stream_peers.py). The gateway runs as the role runs it, on a
Unix socket behind nginx, with an EdDSA JWT, roles, limits and the audit HMACs.

1. Requests (wrk, non-streaming /api/generate; latency with 1 connection, throughput with many):
     direct            wrk -> fixed upstream
     nginx             wrk -> nginx -> fixed upstream
     nginx+gateway     wrk -> nginx -> llmsec gateway -> fixed upstream
     nginx+express     wrk -> nginx -> the hardening guide's Express middleware (HS256 jsonwebtoken,
                       express-rate-limit, http-proxy-middleware) -> fixed upstream   [when node is here]
2. Streams: N concurrent generations at 20 chunks/s each, through nginx alone and through
   nginx + gateway: the delay from the upstream writing a chunk to the client reading it (p50,
   p99), the gateway's added share, its peak RSS and CPU.
3. The resource attack of the review: 4 senders of 15 MB bodies (declared and chunked) and of
   2 MiB bodies of many small values, straight to the gateway's socket for 10 s, while /healthz
   is asked every 10 ms: /healthz p50/p99/max and the gateway's peak RSS.

Everything (load generators included) shares this machine's cores; run it on an idle machine.
nginx and wrk come from Debian (make bench installs them); plain HTTP on loopback, so that TLS,
the same on every nginx path, does not hide the gateway's share.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
GATEWAY = os.path.join(ROOT, "roles", "auth_gateway", "files", "llmsec_gateway.py")
PEERS = os.path.join(HERE, "stream_peers.py")
# The Ollama stand-in, for bare_proxies.py's upstream.
STANDIN = os.path.join(ROOT, "tests", "ollama_standin", "ollama")
NODE_DIR = os.path.join(ROOT, ".build", "bench-node")
PORTS = {"fixed": 21434, "standin": 21435, "stream": 21437, "express": 21436, "metrics_fixed": 21470, "metrics_stream": 21471,
         "nginx": 21480, "nginx_gateway": 21481, "nginx_express": 21482, "nginx_stream": 21483,
         "nginx_gateway_stream": 21484}
ISS, AUD = "https://bench", "llmsec-gateway"
HS_SECRET = "bench-secret-" + "x" * 40
FIXED_ANSWER = ('{"model":"tiny:1b","created_at":"2026-01-01T00:00:00Z","response":"This is a fixed reply.",'
                '"done":true,"done_reason":"stop","prompt_eval_count":5,"eval_count":6}')

NGINX_CONF = """
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
worker_rlimit_nofile 16384;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    upstream fixed {{ server 127.0.0.1:{fixed}; keepalive 64; }}
    upstream stream {{ server 127.0.0.1:{stream}; keepalive 64; }}
    upstream gateway {{ server unix:{tmp}/gw-fixed.sock; keepalive 64; }}
    upstream gateway_stream {{ server unix:{tmp}/gw-stream.sock; keepalive 64; }}
    upstream express {{ server 127.0.0.1:{express}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{fixed};
        client_max_body_size 0;
        location / {{ default_type application/json; return 200 '{answer}'; }}
    }}
{servers}
}}
"""
NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host localhost;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_read_timeout 120s;
            proxy_pass http://{upstream};
        }}
    }}
"""


def wait_http(url, timeout=20, headers=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit("bench: %s did not answer" % url)


def wrk(url, seconds, connections, token):
    env = dict(os.environ, TOKEN=token)
    out = subprocess.run(["wrk", "-t%d" % min(2, connections), "-c%d" % connections, "-d%ds" % seconds, "--latency",
                          "-s", os.path.join(HERE, "post.lua"), url + "/api/generate"],
                         capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(name):
        value, unit = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % name, out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50_ms": percentile("50"), "p99_ms": percentile("99"),
            "errors": int(non2xx.group(1)) if non2xx else 0}


def mint(alg_key, alg, kid, subject="bench"):
    import jwt  # pylint: disable=import-outside-toplevel
    now = int(time.time())
    claims = {"iss": ISS, "sub": subject, "aud": AUD, "iat": now, "nbf": now, "exp": now + 900,
              "role": "inference_consumer", "jti": "bench"}
    return jwt.encode(claims, alg_key, algorithm=alg, headers={"kid": kid} if kid else None)


def setup_express(procs, tmp):
    if not (shutil.which("node") and shutil.which("npm")):
        print("bench: node/npm not found, the Express peer is left out")
        return False
    os.makedirs(NODE_DIR, exist_ok=True)
    for name in ("package.json", "express_peer.js"):
        shutil.copy(os.path.join(HERE, name), NODE_DIR)
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "express")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=NODE_DIR, check=True)
    procs.append(subprocess.Popen(["node", "express_peer.js", str(PORTS["express"]),
                                   "http://127.0.0.1:%d" % PORTS["fixed"]], cwd=NODE_DIR,
                                  env=dict(os.environ, JWT_SECRET=HS_SECRET),
                                  stdout=open(os.path.join(tmp, "express.log"), "w"), stderr=subprocess.STDOUT))
    return True


class ProcWatch:
    """Samples a process's RSS every 20 ms and reads its CPU time at start and stop."""

    def __init__(self, pid):
        self.pid = pid
        self.peak_kib = 0
        self.running = False
        self.thread = None
        self.cpu_start = 0.0

    def cpu(self):
        with open("/proc/%d/stat" % self.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self):
        with open("/proc/%d/status" % self.pid) as handle:
            return int(re.search(r"VmRSS:\s+(\d+)", handle.read()).group(1))

    def _loop(self):
        while self.running:
            self.peak_kib = max(self.peak_kib, self.rss_kib())
            time.sleep(0.02)

    def __enter__(self):
        self.peak_kib, self.running, self.cpu_start = self.rss_kib(), True, self.cpu()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.cpu_seconds = self.cpu() - self.cpu_start


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def credentials(tmp):
    """A fresh EdDSA signing key and its public PEM for the gateways; the audit HMAC key in tmp/creds."""
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ed25519  # pylint: disable=import-outside-toplevel

    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    os.makedirs(tmp + "/creds")
    with open(tmp + "/creds/audit-hmac", "w") as handle:
        handle.write("a" * 64)
    return key, public


def stop(procs, tmp):
    """SIGTERM to every process started, the last first (a kill for any still running 10 s later); then tmp
    removed, unless BENCH_KEEP is set."""
    for proc in reversed(procs):
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    if os.environ.get("BENCH_KEEP"):
        print("bench: kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def start_gateway(procs, tmp, name, upstream_port, metrics_port, public, **extra):
    """The gateway as the role runs it (serve CONFIG, on a Unix socket); extra: more configuration keys."""
    config = {"issuer": ISS, "audience": AUD, "keys": [{"kid": "bench", "alg": "EdDSA", "public_key": public}],
              "upstream": "http://127.0.0.1:%d" % upstream_port, "socket": "%s/gw-%s.sock" % (tmp, name),
              "metrics_port": metrics_port, "requests_per_window": 10 ** 9, "token_budget": 10 ** 12,
              "max_concurrent": 4096, "max_concurrent_per_subject": 4096, "queue_timeout": 60,
              "audit_log": "%s/audit-%s.log" % (tmp, name), "credentials_dir": tmp + "/creds"}
    config.update(extra)
    with open("%s/gateway-%s.json" % (tmp, name), "w") as handle:
        json.dump(config, handle)
    # The role installs gateway_policy.py, ollama_api.py and ratelimit.py beside the service; here they are in place.
    proc = subprocess.Popen([sys.executable, GATEWAY, "serve", "%s/gateway-%s.json" % (tmp, name)],
                            env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "plugins", "module_utils")),
                            stdout=open("%s/gateway-%s.log" % (tmp, name), "w"), stderr=subprocess.STDOUT)
    procs.append(proc)
    wait_http("http://127.0.0.1:%d/healthz" % metrics_port)
    return proc


def requests_section(paths, args):
    for _name, port, token in paths:  # warm up
        wrk("http://127.0.0.1:%d" % port, 2, args.connections, token)
    latency, load = {}, {}
    for name, port, token in paths:
        latency[name] = wrk("http://127.0.0.1:%d" % port, args.seconds, 1, token)
        load[name] = wrk("http://127.0.0.1:%d" % port, args.seconds, args.connections, token)
    print("1. requests: %d cores, wrk, %d s per run, non-streaming /api/generate, fixed nginx upstream"
          % (os.cpu_count(), args.seconds))
    print("%-16s %12s %12s %14s %12s %8s" % ("path", "p50 ms (c1)", "p99 ms (c1)", "req/s (c%d)" % args.connections,
                                             "p99 ms (c%d)" % args.connections, "non-2xx"))
    for name, _port, _token in paths:
        print("%-16s %12.2f %12.2f %14.0f %12.2f %8d" % (
            name, latency[name]["p50_ms"], latency[name]["p99_ms"], load[name]["rps"], load[name]["p99_ms"],
            latency[name]["errors"] + load[name]["errors"]))
    for peer in ("nginx+gateway", "nginx+express"):
        if peer in load:
            print("%s adds %.2f ms at p50 and keeps %.0f%% of nginx-alone throughput" % (
                peer, latency[peer]["p50_ms"] - latency["nginx"]["p50_ms"],
                100.0 * load[peer]["rps"] / load["nginx"]["rps"]))
    if "nginx+express" in load:
        print("gateway / express throughput: %.1fx (target 10x)" % (
            load["nginx+gateway"]["rps"] / load["nginx+express"]["rps"]))


def streams_section(counts, token, gateway_proc):
    print("\n2. streams: N concurrent generations, 20 chunks 50 ms apart each; delay from upstream write to "
          "client read")
    print("%-8s %-16s %9s %9s %9s %8s %12s %10s" % ("streams", "path", "p50 ms", "p99 ms", "chunks", "failed",
                                                    "gw peak MiB", "gw CPU s"))
    for count in counts:
        results = {}
        for name, port in (("nginx", PORTS["nginx_stream"]), ("nginx+gateway", PORTS["nginx_gateway_stream"])):
            with ProcWatch(gateway_proc.pid) as watch:
                out = subprocess.run([sys.executable, PEERS, "client", "http://127.0.0.1:%d/api/generate" % port,
                                      str(count), token], capture_output=True, text=True, check=True).stdout
            data = json.loads(out)
            results[name] = data
            print("%-8d %-16s %9.2f %9.2f %9d %8d %12.1f %10.2f" % (
                count, name, percentile(data["delays_ms"], 0.5), percentile(data["delays_ms"], 0.99),
                len(data["delays_ms"]), len(data["failed"]), watch.peak_kib / 1024.0, watch.cpu_seconds))
        base, gated = results["nginx"]["delays_ms"], results["nginx+gateway"]["delays_ms"]
        print("%-8d gateway adds %.2f ms at p50 and %.2f ms at p99 per chunk (target under 2 ms at p99 for 256)"
              % (count, percentile(gated, 0.5) - percentile(base, 0.5),
                 percentile(gated, 0.99) - percentile(base, 0.99)))


async def attack(socket_path, seconds, healthz_port, token, kinds):
    """4 senders of oversized and expensive bodies on the gateway's socket; /healthz timed meanwhile."""
    big = b'{"model":"tiny:1b","options":' + b'{"a":' * 20 + b"{}" + b"}" * 20 + b',"x":[' + \
        b"{}," * (5 * 1024 * 1024) + b"{}]}"
    many = b'{"model":"tiny:1b","options":{' + b",".join(b'"k%d":"v"' % index for index in range(90000)) + b"}}"
    bodies = [("declared 15 MB", big, True), ("chunked 15 MB", big, False), ("2 MiB of 90k values", many, True)]
    answers = {}
    stop = time.monotonic() + seconds

    async def send(label, body, declared):
        while time.monotonic() < stop:
            try:
                reader, writer = await asyncio.open_unix_connection(socket_path)
                head = ("POST /api/generate HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                        "Content-Type: application/json\r\n" % token)
                if declared:
                    writer.write((head + "Content-Length: %d\r\n\r\n" % len(body)).encode())
                    writer.write(body)
                else:
                    writer.write((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
                    for offset in range(0, len(body), 65536):
                        piece = body[offset:offset + 65536]
                        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                await writer.drain()
                status = (await reader.readline()).split()[1].decode()
                answers.setdefault(label, {}).setdefault(status, 0)
                answers[label][status] += 1
                writer.close()
            except (OSError, IndexError, asyncio.IncompleteReadError):
                answers.setdefault(label, {}).setdefault("reset", 0)
                answers[label]["reset"] += 1

    # /healthz is timed by another process, so that the attackers' own work does not count.
    probe = await asyncio.create_subprocess_exec(sys.executable, "-c", PROBE, str(healthz_port), str(seconds),
                                                 stdout=asyncio.subprocess.PIPE)
    await asyncio.gather(*[send(*bodies[kind]) for kind in kinds])
    times = json.loads((await probe.communicate())[0])
    return times, answers


PROBE = """
import json, socket, sys, time
port, stop, times = int(sys.argv[1]), time.monotonic() + float(sys.argv[2]), []
while time.monotonic() < stop:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n")
        while conn.recv(4096):
            pass
    times.append((time.monotonic() - started) * 1000)
    time.sleep(0.01)
print(json.dumps(times))
"""


def attack_section(tmp, gateway_proc, token, seconds):
    print("\n3. resource attacks: 4 senders on the gateway's socket for %d s each, /healthz every 10 ms from another "
          "process" % seconds)
    columns = ("attack", "healthz", "p50 ms", "p99 ms", "max ms", "peak MiB", "CPU s", "answers")
    print("%-34s %8s %8s %8s %8s %10s %8s  %s" % columns)
    for label, kinds in (("4 x 15 MB (2 declared, 2 chunked)", (0, 1, 0, 1)),
                         ("4 x 1.1 MB of 90 000 values", (2, 2, 2, 2))):
        with ProcWatch(gateway_proc.pid) as watch:
            times, answers = asyncio.run(attack(tmp + "/gw-fixed.sock", seconds, PORTS["metrics_fixed"], token,
                                                kinds))
        print("%-34s %8d %8.2f %8.2f %8.2f %10.1f %8.2f  %s" % (
            label, len(times), statistics.median(times), percentile(times, 0.99), max(times),
            watch.peak_kib / 1024.0, watch.cpu_seconds, json.dumps(answers, sort_keys=True)))
    print("targets under the 15 MB attack: /healthz p99 under 50 ms, RSS under 200 MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--streams", default="256,1024")
    parser.add_argument("--sections", default="1,2,3")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            raise SystemExit("bench: %s is missing (make bench installs it)" % tool)
    tmp = tempfile.mkdtemp(prefix="llmsec-bench-gw-")
    os.chmod(tmp, 0o755)
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, PEERS, "upstream", str(PORTS["stream"]), "20", "0.05"]))
        key, public = credentials(tmp)
        gateway = start_gateway(procs, tmp, "fixed", PORTS["fixed"], PORTS["metrics_fixed"], public)
        gateway_stream = start_gateway(procs, tmp, "stream", PORTS["stream"], PORTS["metrics_stream"], public)
        express = setup_express(procs, tmp)
        servers = [(PORTS["nginx"], "fixed"), (PORTS["nginx_gateway"], "gateway"),
                   (PORTS["nginx_stream"], "stream"), (PORTS["nginx_gateway_stream"], "gateway_stream")]
        if express:
            servers.append((PORTS["nginx_express"], "express"))
        with open(tmp + "/nginx.conf", "w") as handle:
            handle.write(NGINX_CONF.format(tmp=tmp, fixed=PORTS["fixed"], stream=PORTS["stream"],
                                           express=PORTS["express"], answer=FIXED_ANSWER,
                                           servers="".join(NGINX_SERVER.format(port=port, upstream=upstream)
                                                           for port, upstream in servers)))
        # As root nginx's workers run as nobody: let them open the gateways' sockets, as the role lets www-data.
        procs.append(subprocess.Popen(["nginx", "-p", tmp, "-c", tmp + "/nginx.conf", "-g", "daemon off;"]))
        wait_http("http://127.0.0.1:%d/" % PORTS["nginx"])
        for name in ("fixed", "stream"):
            os.chmod("%s/gw-%s.sock" % (tmp, name), 0o666)
        if express:
            wait_http("http://127.0.0.1:%d/api/version" % PORTS["express"])

        eddsa_token, hs_token = mint(key, "EdDSA", "bench"), mint(HS_SECRET, "HS256", None)
        sections = args.sections.split(",")
        if "1" in sections:
            paths = [("direct", PORTS["fixed"], eddsa_token), ("nginx", PORTS["nginx"], eddsa_token),
                     ("nginx+gateway", PORTS["nginx_gateway"], eddsa_token)]
            if express:
                paths.append(("nginx+express", PORTS["nginx_express"], hs_token))
            requests_section(paths, args)
        if "2" in sections:
            streams_section([int(count) for count in args.streams.split(",")], eddsa_token, gateway_stream)
        if "3" in sections:
            attack_section(tmp, gateway, mint(key, "EdDSA", "bench", "attacker"), args.seconds)
    finally:
        stop(procs, tmp)


if __name__ == "__main__":
    main()
