"""ai_activity_audit in a kernel whose audit it can use.

The audit subsystem is the kernel's, not a container's, so the role runs in the one VM the suite boots (beside
the encrypted volume's and AppArmor's tests; the reboot test of test_encrypted_model_volume.py checks that the
rules come back). Each act a compromised host would show is made for real and read back as the counter the
monitoring alerts use; the stand-in serving a generation is the control that must add nothing.

The stand-in is a Python script started through `/usr/bin/env python3`, and its runner, `ollama runner`, is
exec'd with the interpreter as the executable, so env and the interpreter are allowed for the server's user here
(ai_activity_audit_exec_allow); with Ollama's binary the allowed program is the binary itself, the role's
default.
"""

import json
import os
import re

import pytest

from scenario_helpers import STANDIN, assert_refused, case_key, module_runs, refusals, run_role, serve_standin
from scenario_helpers import standin_api as api

VM = "llmsec-luks-vm"
STORE = "/srv/audit-models"
ROLE = "llmsec.hardening.ai_activity_audit"
TEXTFILE = "/var/lib/prometheus/node-exporter/llmsec_ai_activity.prom"

testinfra_hosts = ["ansible://" + VM]


def role_vars(**extra):
    return dict({"ai_activity_audit_stores": [STORE], "ai_activity_audit_server_users": ["ollama"],
                 "ai_activity_audit_exec_allow": ["/usr/bin/ollama", "/usr/bin/env",
                                                  "/usr/bin/python3.11"]}, **extra)


def counters(host):
    """The consumer run now: {(key, user, exe, window): value} from its textfile."""
    host.check_output("systemctl start llmsec-ai-activity.service")
    found = {}
    for line in host.file(TEXTFILE).content_string.splitlines():
        match = re.match(r"^llmsec_ai_activity_events_total\{(.*)\} (\d+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            found[(labels["key"], labels["user"], labels["exe"], labels.get("window", ""))] = int(match.group(2))
    return found


def grown(before, after):
    return dict((series, value - before.get(series, 0)) for series, value in after.items()
                if value != before.get(series, 0))


@pytest.fixture(scope="module")
def audited(host):
    """A store with a model the stand-in pulled as ollama (before any rule: the seeding is no event), then the
    role, twice (the second run changes nothing)."""
    module_runs(host, [("ansible.builtin.copy", {"src": os.path.abspath(STANDIN), "dest": "/usr/bin/ollama",
                                                 "mode": "0755"})])
    host.check_output("install -d -o ollama -g ollama -m 0755 /usr/share/ollama %s" % STORE)
    serve_standin(host, "llmsec-audit-seed", 11510, STORE, "/usr/share/ollama")
    assert '"success"' in api(host, 11510, "/api/pull", {"model": "tiny:1b", "stream": False}).stdout
    host.check_output("systemctl stop llmsec-audit-seed")
    first = run_role(host, role_vars(), role=ROLE)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    again = run_role(host, role_vars(), role=ROLE)
    assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout[-3000:]
    return host


def blob(host):
    return host.check_output("ls -S %s/blobs/sha256-* | head -1" % STORE)


def test_rules_loaded_with_limits_that_never_block(audited):
    rules = audited.check_output("auditctl -l")
    for key in ("llmsec_model_read", "llmsec_model_write", "llmsec_ai_config", "llmsec_ai_exec",
                "llmsec_ai_connect"):
        assert key in rules, rules
    status = dict(line.split(" ", 1) for line in audited.check_output("auditctl -s").splitlines() if " " in line)
    assert (status["backlog_limit"], status["backlog_wait_time"], status["rate_limit"], status["failure"]) == (
        "8192", "0", "2000", "1"), status
    assert audited.service("llmsec-ai-activity.timer").is_running


def test_the_normal_path_adds_nothing(audited):
    """The stand-in as Ollama runs it: started, a generation (its runner exec'd, the blob mapped, loopback
    connections to the runner), stopped."""
    before = counters(audited)
    try:
        serve_standin(audited, "llmsec-audit-serve", 11511, STORE, "/usr/share/ollama")
        out = api(audited, 11511, "/api/generate", {"model": "tiny:1b", "prompt": "hi", "stream": False})
        assert out.rc == 0 and json.loads(out.stdout)["done"] is True, out.stderr
    finally:
        audited.run("systemctl stop llmsec-audit-serve")
    assert grown(before, counters(audited)) == {}


def test_each_act_shows_up_as_its_counter(audited):
    before = counters(audited)
    audited.check_output("runuser -u nobody -- cat %s > /dev/null" % blob(audited))
    audited.check_output("runuser -u ollama -- /bin/sh -c true")
    audited.check_output("mkdir -p /etc/systemd/system/ollama.service.d && "
                         "printf '[Service]\\nEnvironment=OLLAMA_HOST=0.0.0.0\\n' > "
                         "/etc/systemd/system/ollama.service.d/zz-evil.conf")
    # Off loopback: the VM's gateway (user networking); refused or not, the connect() is the act.
    audited.run("runuser -u ollama -- python3 -c \"import socket; s = socket.socket(); s.settimeout(3); "
                "s.connect_ex(('10.0.2.2', 9))\"")
    try:
        new = grown(before, counters(audited))
    finally:
        audited.run("rm -f /etc/systemd/system/ollama.service.d/zz-evil.conf")
    assert new.get(("llmsec_model_read", "nobody", "/usr/bin/cat", "")) == 1, new
    assert new.get(("llmsec_ai_exec", "ollama", "/usr/bin/dash", "")) == 1, new
    assert any(key == "llmsec_ai_config" and user == "root" and window == "closed"
               for key, user, _e, window in new), new
    assert any(key == "llmsec_ai_connect" and user == "ollama" and window == "closed"
               for key, user, _e, window in new), new
    # The last events are kept for the report, root-only.
    state = json.loads(audited.check_output("cat /var/lib/llmsec/ai-activity/state.json"))
    assert any(event["key"] == "llmsec_model_read" and blob(audited) in event["paths"] for event in state["last"])
    assert audited.file("/var/lib/llmsec/ai-activity/state.json").mode == 0o600


BAD_INPUT = [
    (role_vars(ai_activity_audit_stores=["/srv/no-such-store"]),
     "ai_activity_audit_stores[0] (/srv/no-such-store) is not a directory"),
    (role_vars(ai_activity_audit_server_users=["no-such-user"]),
     "ai_activity_audit_server_users[0] (no-such-user) is no user"),
    (role_vars(ai_activity_audit_stores=["/usr"]), "auditing every read there would audit the whole system"),
]


def test_bad_input_changes_no_rule(audited):
    rules = audited.check_output("auditctl -l")
    text = audited.file("/etc/audit/rules.d/60-llmsec-ai-activity.rules").content_string
    results = refusals(audited, [variables for variables, _message in BAD_INPUT], role=ROLE)
    for variables, message in BAD_INPUT:
        assert_refused(results[case_key(variables)], message)
    assert audited.check_output("auditctl -l") == rules
    assert audited.file("/etc/audit/rules.d/60-llmsec-ai-activity.rules").content_string == text
