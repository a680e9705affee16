"""Benchmark: playbooks/site.yml on a fleet of 1, 4 and 8 container hosts.

    python3 tests/bench/fleet/run.py [--sizes 1,4,8] [--keep]

Each host is a systemd container (Debian 12) reached over SSH, as a fleet host is,
with Ollama (the stand-in) installed and exposed and a model approved - prepared
untimed. For each fleet size, on fresh hosts, with forks = hosts:
  first converge        site.yml, pipelining on (what the fleet example recommends)
  re-run                site.yml again: must change nothing
  re-run, no pipelining the obvious alternative: Ansible's default (pipelining off)
Prints wall time, seconds per host, the ratio to one host, tasks per host (ok and
skipped, from the recap) and changes. The stack is the native shape of
examples/fleet (ollama_bind, firewall, nginx_tls_proxy with JWT, auth_gateway from a
wheelhouse, model_integrity, monitoring, rag_ingest_guard, audits before and after).
The controller, every host and the Debian mirror downloads share this machine's cores.
"""

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
WORK = os.path.join(ROOT, ".build", "bench-fleet")
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import systemd_host  # noqa: E402  the systemd test host of molecule/shared/systemd_host.yml

IMAGE = "llmsec/debian12:latest"
NETWORK = "llmsec-bench-fleet"
PREFIX = "llmsec-bench-"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def sh(*cmd, **kwargs):
    return subprocess.run(list(cmd), check=True, **kwargs)


def containers():
    out = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                         check=True).stdout.split()
    return [name for name in out if name.startswith(PREFIX)]


def down():
    names = containers()
    if names:
        subprocess.run(["docker", "rm", "-f"] + names, capture_output=True, check=False)
    subprocess.run(["docker", "network", "rm", NETWORK], capture_output=True, check=False)


def up(count):
    down()
    sh("docker", "network", "create", NETWORK, stdout=subprocess.DEVNULL)
    names = ["%s%02d" % (PREFIX, index) for index in range(1, count + 1)]
    for name in names:
        sh("docker", "run", "-d", "--name", name, "--hostname", name, "--network", NETWORK,
           *systemd_host.docker_run_args(["SYS_PTRACE", "DAC_READ_SEARCH"], IMAGE), stdout=subprocess.DEVNULL)
    for name in names:
        for _attempt in range(60):
            state = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"], capture_output=True,
                                   text=True, check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(1)
    addresses = {}
    for name in names:
        addresses[name] = subprocess.run(
            ["docker", "inspect", "-f", "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NETWORK, name],
            capture_output=True, text=True, check=True).stdout.strip()
    return names, addresses


def secrets():
    """SSH key, JWT key, audit key and a wheelhouse, once."""
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(os.path.join(WORK, "id_ed25519")):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(WORK, "id_ed25519"))
    if not os.path.exists(os.path.join(WORK, "audit.key")):
        sh("sh", "-c", "openssl genpkey -algorithm ed25519 -out ed.key && openssl pkey -in ed.key -pubout -out ed.pub"
           " && openssl rand -hex 32 > audit.key", cwd=WORK)
    wheelhouse = os.path.join(WORK, "wheelhouse")
    if not os.path.isdir(wheelhouse):
        sh(sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "-q", "--only-binary=:all:",
           "--dest", wheelhouse, "-r", os.path.join(ROOT, "roles", "auth_gateway", "files", "requirements.txt"))


def write_inventory(names, addresses):
    inventory = os.path.join(WORK, "inventory")
    shutil.rmtree(inventory, ignore_errors=True)
    os.makedirs(os.path.join(inventory, "group_vars"))
    # The fleet example's native shape, as shipped.
    os.symlink(os.path.join(ROOT, "examples", "fleet", "group_vars", "ollama_native.yml"),
               os.path.join(inventory, "group_vars", "ollama_native.yml"))
    hosts = {name: {"ansible_host": addresses[name]} for name in names}
    data = {"all": {"children": {
        "ollama_servers": {"children": {"ollama_native": {"hosts": hosts}}},
    }}}
    with open(os.path.join(inventory, "hosts.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    with open(os.path.join(inventory, "group_vars", "all.json"), "w", encoding="utf-8") as handle:
        json.dump({
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_private_key_file": os.path.join(WORK, "id_ed25519"),
            "bench_dir": WORK,
            "nginx_tls_proxy_auth": "jwt",
            "nginx_tls_proxy_export_dir": os.path.join(WORK, "pki"),
            "auth_gateway_jwt_issuer": "https://auth.bench",
            "auth_gateway_jwt_audience": "llmsec-gateway",
            "auth_gateway_jwt_keys": [{"kid": "ed", "alg": "EdDSA",
                                       "public_key": open(os.path.join(WORK, "ed.pub"), encoding="utf-8").read()}],
            "auth_gateway_audit_hmac_key": open(os.path.join(WORK, "audit.key"), encoding="utf-8").read().strip(),
            "auth_gateway_wheelhouse": os.path.join(WORK, "wheelhouse"),
            "llmsec_rag_ingest": True,
            "llmsec_site_report_dir": os.path.join(WORK, "audit"),
        }, handle)
    return os.path.join(inventory, "hosts.json")


def config(forks, pipelining):
    path = os.path.join(WORK, "ansible-%d-%s.cfg" % (forks, "pipe" if pipelining else "nopipe"))
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[defaults]\nforks = %d\nhost_key_checking = False\ninterpreter_python = /usr/bin/python3\n"
                     "gathering = smart\nretry_files_enabled = False\n"
                     "[ssh_connection]\npipelining = %s\n"
                     "ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=/dev/null\n"
                     % (forks, pipelining))
    return path


def playbook(inventory, path, cfg, log, extra=()):
    env = dict(os.environ, ANSIBLE_CONFIG=cfg, ANSIBLE_FORCE_COLOR="false", ANSIBLE_NOCOLOR="1")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as handle:
        result = subprocess.run(["ansible-playbook", "-i", inventory, path] + list(extra), stdout=handle,
                                stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(log, encoding="utf-8") as handle:
        text = handle.read()
    recap = {match.group(1): [int(value) for value in match.groups()[1:]] for match in RECAP.finditer(text)}
    if result.returncode != 0:
        raise SystemExit("bench: %s failed (log: %s)" % (os.path.basename(path), log))
    return seconds, cpu, recap


def measure(count):
    names, addresses = up(count)
    inventory = write_inventory(names, addresses)
    site = os.path.join(ROOT, "playbooks", "site.yml")
    logs = os.path.join(WORK, "logs")
    os.makedirs(logs, exist_ok=True)
    prep = os.path.join(logs, "prepare-%d.log" % count)
    playbook(inventory, os.path.join(HERE, "prepare.yml"), config(count, True), prep)
    rows = []
    for label, pipelining in (("first converge", True), ("re-run", True), ("re-run, no pipelining", False)):
        log = os.path.join(logs, "site-%d-%s.log" % (count, label.replace(" ", "_").replace(",", "")))
        seconds, cpu, recap = playbook(inventory, site, config(count, pipelining), log,
                                       ["-e", "llmsec_target_hosts=ollama_native"])
        first = recap[names[0]]
        changed = sum(values[1] for host, values in recap.items() if host in names)
        rows.append({"hosts": count, "run": label, "seconds": seconds, "per_host": seconds / count,
                     "ok": first[0], "skipped": first[4], "changed": changed, "cpu": cpu / count})
        print("  %d host(s), %-22s %7.1f s  (%d ok, %d skipped per host, %d changed in all, controller CPU %.1f s)"
              % (count, label, seconds, first[0], first[4], changed, cpu), flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,8")
    parser.add_argument("--keep", action="store_true", help="leave the last fleet running")
    args = parser.parse_args()
    secrets()
    rows = []
    try:
        for count in [int(item) for item in args.sizes.split(",")]:
            print("fleet of %d:" % count, flush=True)
            rows += measure(count)
    finally:
        if not args.keep:
            down()
    base = {row["run"]: row["seconds"] for row in rows if row["hosts"] == rows[0]["hosts"]}
    print()
    print("site.yml on container hosts over SSH, forks = hosts (%s)" % time.strftime("%Y-%m-%d"))
    print("%-6s %-23s %9s %9s %8s %13s %9s %8s %8s" % ("hosts", "run", "wall s", "s/host", "ratio",
                                                       "ctl CPU/host", "tasks ok", "skipped", "changed"))
    for row in rows:
        print("%-6d %-23s %9.1f %9.1f %7.2fx %12.1fs %9d %8d %8d" % (
            row["hosts"], row["run"], row["seconds"], row["per_host"], row["seconds"] / base[row["run"]],
            row["cpu"], row["ok"], row["skipped"], row["changed"]))


if __name__ == "__main__":
    main()
