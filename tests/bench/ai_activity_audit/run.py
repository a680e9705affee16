"""Benchmark: what ai_activity_audit's kernel audit rules and its consumer cost, in the qemu VM.

    python3 tests/bench/ai_activity_audit/run.py [--ops 20000] [--keep]

Boots the test VM (tests/harness/vm.sh; the audit subsystem is the kernel's, so no container will do), applies
the role over SSH (store /srv/models with a 1 MiB blob, server user ollama), and measures, in the same boot and
on the same loads, three rule sets:
  none    no rule of ours (auditd running): the baseline
  role    the role's rules: the store's reads audited for users other than the servers', the servers' programs
          and connections, writes of the store and the servers' files
  watch   the obvious alternative, a watch on the store (`-w STORE -p rwa`): every read audited, the servers' too
Loads, each a Python loop in the VM as the user whose acts it imitates:
  server reads model      ollama opens, reads 64 KiB of and closes a blob (N times): the normal path
  other opens             nobody opens a file outside the store (N): the rest of the host
  server connects lo      ollama connects to a listener on loopback (N/4): Ollama to its runners
  other user reads model  nobody reads the blob (N/4): every one an event, past the rate limit
For each: microseconds per operation and the overhead over `none`, the audit records written, auditd's CPU
seconds, the events the kernel lost (the role sets a rate limit and no waiting, so audit never blocks a
process), and the consumer's CPU seconds over those records, its CPU per record beyond its fixed cost, and
the events it counted.
The VM is emulated (TCG): absolute times are several times a real host's; compare the rows.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "plugins", "module_utils"))
import audit_rules  # noqa: E402  the role's own keys

VM = "llmsec-bench-audit"
PORT = 22240
STORE = "/srv/models"
BLOB = STORE + "/blobs/sha256-" + "ab" * 32
LISTENER = "127.0.0.1:9999"
RULES_FILE = "/etc/audit/rules.d/60-llmsec-ai-activity.rules"
VM_SH = os.path.join(ROOT, "tests", "harness", "vm.sh")
KEY = "/var/cache/llmsec-vm/id_ed25519"


def ssh(command, stdin=None):
    return subprocess.run([VM_SH, "ssh", str(PORT), command], input=stdin, capture_output=True, text=True,
                          check=True).stdout


def prepare():
    """The store, the user, a loopback listener, auditd's log big enough for the run, the load and the driver."""
    ssh("set -e; id ollama >/dev/null 2>&1 || useradd --system --home-dir /usr/share/ollama ollama; "
        "install -d -o ollama -g ollama -m 0755 %s %s/blobs; head -c 1048576 /dev/urandom > %s; "
        "chown ollama: %s; chmod 0644 %s; "
        "sed -i -e 's/^max_log_file = .*/max_log_file = 512/' -e 's/^num_logs = .*/num_logs = 2/' "
        "/etc/audit/auditd.conf; kill -HUP $(cat /var/run/auditd.pid); "
        "systemd-run --unit=bench-listener python3 -c \"import socket; s = socket.create_server(('127.0.0.1', "
        "9999), backlog=1024)\nwhile True: s.accept()[0].close()\"" % (STORE, STORE, BLOB, BLOB, BLOB))
    for name in ("load.py", "driver.py"):
        with open(os.path.join(HERE, name), encoding="utf-8") as handle:
            ssh("install -d -m 0755 /opt/llmsec-bench && cat > /opt/llmsec-bench/%s" % name, handle.read())


def apply_role(work):
    inventory = os.path.join(work, "inventory.yml")
    with open(inventory, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": {VM: {
            "ansible_host": "127.0.0.1", "ansible_port": PORT, "ansible_user": "root",
            "ansible_ssh_private_key_file": KEY, "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            "ansible_timeout": 90}}}}, handle)
    playbook = os.path.join(work, "apply.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        json.dump([{"hosts": VM, "gather_facts": False, "roles": [{
            "role": "llmsec.hardening.ai_activity_audit", "ai_activity_audit_stores": [STORE],
            "ai_activity_audit_server_users": ["ollama"],
            # The load is Python: the servers' own interpreter, as the stand-in's is in the scenario.
            "ai_activity_audit_exec_allow": ["/usr/bin/python3.11"]}]}], handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", inventory, playbook],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def use_rules(name):
    drop = "; ".join("auditctl -D -k %s >/dev/null 2>&1" % key for key in audit_rules.OWN_KEYS)
    drop += "; auditctl -W %s -p rwa -k bench_watch >/dev/null 2>&1; true" % STORE
    extra = {"none": "", "role": "auditctl -R %s >/dev/null" % RULES_FILE,
             "watch": "auditctl -w %s -p rwa -k bench_watch" % STORE}[name]
    ssh(drop + ("; " + extra if extra else ""))
    return ssh("auditctl -l")


def measure(user, args):
    spec = {"user": user, "load": "/opt/llmsec-bench/load.py", "args": [str(arg) for arg in args],
            "consumer": "/usr/local/lib/llmsec/llmsec-ai-activity", "config": "/etc/llmsec/ai-activity.json"}
    return json.loads(ssh("python3 /opt/llmsec-bench/driver.py '%s'" % json.dumps(spec)).strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=20000, help="operations of the file loads (default 20000)")
    parser.add_argument("--keep", action="store_true", help="leave the VM running")
    options = parser.parse_args()
    loads = [("server reads model", "ollama", ["read", BLOB, options.ops]),
             ("other opens", "nobody", ["read", "/etc/os-release", options.ops]),
             ("server connects lo", "ollama", ["connect", LISTENER, options.ops // 4]),
             ("other user reads model", "nobody", ["read", BLOB, options.ops // 4])]
    subprocess.run([VM_SH, "start", VM, str(PORT)], check=True, stdout=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory(prefix="llmsec-bench-audit-") as work:
            prepare()
            apply_role(work)
        results = {}
        for rules in ("none", "role", "watch"):
            use_rules(rules)
            for label, user, args in loads:
                results[rules, label] = measure(user, args)
                results[rules, label]["ops"] = args[2]
    finally:
        if not options.keep:
            subprocess.run([VM_SH, "stop", VM], check=False)
    print("ai_activity_audit in the qemu VM (TCG, 2 vCPUs), %d file operations per load" % options.ops)
    print("%-6s %-23s %6s %8s %9s %8s %9s %6s %10s %7s %10s" % (
        "rules", "load", "ops", "us/op", "overhead", "records", "auditd s", "lost", "consumer s", "events",
        "ms/record"))
    for (rules, label), row in results.items():
        per_op = row["seconds"] / row["ops"] * 1e6
        base = results["none", label]
        per_record = "%10s" % "-"
        if row["records"] >= 1000:  # beyond the consumer's fixed cost (start, auditctl), measured with no rule
            per_record = "%10.2f" % ((row["consumer_cpu"] - base["consumer_cpu"]) / row["records"] * 1000.0)
        print("%-6s %-23s %6d %8.1f %+8.0f%% %8d %9.2f %6d %10.2f %7d %s" % (
            rules, label, row["ops"], per_op, (per_op / (base["seconds"] / row["ops"] * 1e6) - 1) * 100,
            row["records"], row["auditd_cpu"], row["lost"], row["consumer_cpu"], row["events"], per_record))
    print("consumer s: CPU of one consumer run over the load's records (its fixed cost is the `none` rows: Python, "
          "auditctl -s and -l); ms/record: its CPU per record beyond that; events: those it counted (it "
          "drops loopback connections, and the watch's key is not its own)")


if __name__ == "__main__":
    main()
