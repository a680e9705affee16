"""Benchmark: what the auth gateway costs, in one run, against the obvious alternatives.

    python3 tests/bench/gateway/run.py [--seconds 10] [--connections 16]

Paths, each loaded by wrk with the same non-streaming /api/generate (the stand-in
answers at once):
  direct            wrk -> stand-in Ollama
  nginx             wrk -> nginx -> stand-in
  nginx+gateway     wrk -> nginx -> llmsec gateway (EdDSA JWT, RBAC, limits, audit HMAC) -> stand-in
  nginx+express     wrk -> nginx -> the hardening guide's Express middleware (HS256 jsonwebtoken,
                    express-rate-limit, http-proxy-middleware) -> stand-in   [when node and npm are here]
Prints requests/s, p50 and p99 latency for each, and the gateway's cost against nginx alone.
Everything (load generator included) shares this machine's cores; run it on an idle machine.
nginx and wrk come from Debian (make bench installs them); plain HTTP on loopback, so
that TLS, the same on both nginx paths, does not hide the gateway's share.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
STANDIN = os.path.join(ROOT, "tests", "ollama_standin", "ollama")
GATEWAY = os.path.join(ROOT, "roles", "auth_gateway", "files", "llmsec_gateway.py")
NODE_DIR = os.path.join(ROOT, ".build", "bench-node")
PORTS = {"standin": 21434, "gateway": 21435, "express": 21436, "metrics": 21470,
         "nginx": 21480, "nginx_gateway": 21481, "nginx_express": 21482}
ISS, AUD = "https://bench", "llmsec-gateway"
HS_SECRET = "bench-secret-" + "x" * 40

NGINX_CONF = """
worker_processes auto;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    upstream standin {{ server 127.0.0.1:{standin}; keepalive 32; }}
    upstream gateway {{ server 127.0.0.1:{gateway}; keepalive 32; }}
    upstream express {{ server 127.0.0.1:{express}; keepalive 32; }}
{servers}
}}
"""
NGINX_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1:{standin};  # Ollama's DNS-rebinding check, as the role sets it
            proxy_buffering off;
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


def mint(alg_key, alg, kid):
    import jwt  # pylint: disable=import-outside-toplevel
    now = int(time.time())
    claims = {"iss": ISS, "sub": "bench", "aud": AUD, "iat": now, "nbf": now, "exp": now + 900,
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
                                   "http://127.0.0.1:%d" % PORTS["standin"]], cwd=NODE_DIR,
                                  env=dict(os.environ, JWT_SECRET=HS_SECRET),
                                  stdout=open(os.path.join(tmp, "express.log"), "w"), stderr=subprocess.STDOUT))
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            raise SystemExit("bench: %s is missing (make bench installs it)" % tool)
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ed25519  # pylint: disable=import-outside-toplevel

    tmp = tempfile.mkdtemp(prefix="llmsec-bench-gw-")
    procs = []
    try:
        env = dict(os.environ, OLLAMA_HOST="127.0.0.1:%d" % PORTS["standin"], OLLAMA_MODELS=tmp + "/models",
                   HOME=tmp, OLLAMA_STANDIN_CHUNK_DELAY="0", OLLAMA_STANDIN_PULL_SIZE="1024")
        procs.append(subprocess.Popen([sys.executable, STANDIN, "serve"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http("http://127.0.0.1:%d/api/version" % PORTS["standin"])
        subprocess.run([sys.executable, STANDIN, "pull", "tiny:1b"], env=env, check=True,
                       stdout=subprocess.DEVNULL)

        key = ed25519.Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        os.makedirs(tmp + "/creds")
        with open(tmp + "/creds/audit-hmac", "w") as handle:
            handle.write("a" * 64)
        config = {"issuer": ISS, "audience": AUD, "keys": [{"kid": "bench", "alg": "EdDSA", "public_key": public}],
                  "upstream": "http://127.0.0.1:%d" % PORTS["standin"], "port": PORTS["gateway"],
                  "metrics_port": PORTS["metrics"], "requests_per_window": 10 ** 9, "token_budget": 10 ** 12,
                  "max_concurrent": 64, "audit_log": tmp + "/audit.log", "credentials_dir": tmp + "/creds"}
        with open(tmp + "/gateway.json", "w") as handle:
            json.dump(config, handle)
        # The role installs gateway_policy.py and ratelimit.py beside the service; here they are found in place.
        procs.append(subprocess.Popen([sys.executable, GATEWAY, "serve", tmp + "/gateway.json"],
                                      env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "plugins", "module_utils")),
                                      stdout=open(tmp + "/gateway.log", "w"), stderr=subprocess.STDOUT))
        wait_http("http://127.0.0.1:%d/healthz" % PORTS["metrics"])

        express = setup_express(procs, tmp)
        servers = [(PORTS["nginx"], "standin"), (PORTS["nginx_gateway"], "gateway")]
        if express:
            servers.append((PORTS["nginx_express"], "express"))
        with open(tmp + "/nginx.conf", "w") as handle:
            handle.write(NGINX_CONF.format(tmp=tmp, standin=PORTS["standin"], gateway=PORTS["gateway"],
                                           express=PORTS["express"],
                                           servers="".join(NGINX_SERVER.format(port=port, upstream=upstream,
                                                                               standin=PORTS["standin"])
                                                           for port, upstream in servers)))
        procs.append(subprocess.Popen(["nginx", "-p", tmp, "-c", tmp + "/nginx.conf", "-g", "daemon off;"]))
        wait_http("http://127.0.0.1:%d/" % PORTS["nginx"])
        if express:
            wait_http("http://127.0.0.1:%d/api/version" % PORTS["express"])

        eddsa_token, hs_token = mint(key, "EdDSA", "bench"), mint(HS_SECRET, "HS256", None)
        paths = [("direct", PORTS["standin"], eddsa_token), ("nginx", PORTS["nginx"], eddsa_token),
                 ("nginx+gateway", PORTS["nginx_gateway"], eddsa_token)]
        if express:
            paths.append(("nginx+express", PORTS["nginx_express"], hs_token))
        for _name, port, token in paths:  # warm up
            wrk("http://127.0.0.1:%d" % port, 2, args.connections, token)
        # Latency with one connection (nothing queues), throughput with many.
        latency, load = {}, {}
        for name, port, token in paths:
            latency[name] = wrk("http://127.0.0.1:%d" % port, args.seconds, 1, token)
            load[name] = wrk("http://127.0.0.1:%d" % port, args.seconds, args.connections, token)

        print("gateway benchmark: %d cores, wrk -t1/-t2, %d s per run, non-streaming /api/generate"
              % (os.cpu_count(), args.seconds))
        print("%-16s %12s %12s %14s %12s %8s" % ("path", "p50 ms (c1)", "p99 ms (c1)",
                                                 "req/s (c%d)" % args.connections, "p99 ms (c%d)" % args.connections,
                                                 "non-2xx"))
        for name, _port, _token in paths:
            print("%-16s %12.2f %12.2f %14.0f %12.2f %8d" % (
                name, latency[name]["p50_ms"], latency[name]["p99_ms"], load[name]["rps"], load[name]["p99_ms"],
                latency[name]["errors"] + load[name]["errors"]))
        for peer in ("nginx+gateway", "nginx+express"):
            if peer in load:
                print("%s adds %.2f ms at p50 and keeps %.0f%% of nginx-alone throughput" % (
                    peer, latency[peer]["p50_ms"] - latency["nginx"]["p50_ms"],
                    100.0 * load[peer]["rps"] / load["nginx"]["rps"]))
        print("targets for the gateway: <= 2 ms at p50, >= 50% of nginx-alone throughput")
        with open(tmp + "/audit.log") as handle:
            print("audit lines written by the gateway: %d" % sum(1 for _line in handle))
    finally:
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


if __name__ == "__main__":
    main()
