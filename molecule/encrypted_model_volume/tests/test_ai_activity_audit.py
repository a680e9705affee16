"""ai_activity_audit in a kernel whose audit it can use.

The audit subsystem is the kernel's, not a container's, so the role runs in the one VM the suite boots (beside
the encrypted volume's and AppArmor's tests; the reboot test of test_encrypted_model_volume.py checks that the
rules come back). Each act a compromised host would show is made for real and read back as the counter the
monitoring alerts use; the stand-in serving a generation is the control that must add nothing.

The stand-in is a Python script started through `/usr/bin/env python3`, and its runner, `ollama runner`, is
exec'd with the interpreter as the executable, so env and the interpreter are allowed for the server's user here
(ai_activity_audit_exec_allow); with Ollama's binary the allowed program is the binary itself, the role's
default.

Each act's counters are also handed to promtool with the monitoring role's alert rules (as a Prometheus scraping
the VM's textfile would see them): the acts fire their alerts and the normal path fires none.
"""

import json
import os
import re
import subprocess

import pytest

from scenario_helpers import STANDIN, assert_refused, case_key, module_runs, refusals, run_playbook, run_role
from scenario_helpers import serve_standin
from scenario_helpers import standin_api as api

VM = "llmsec-luks-vm"
STORE = "/srv/audit-models"
ROLE = "llmsec.hardening.ai_activity_audit"
TEXTFILE = "/var/lib/prometheus/node-exporter/llmsec_ai_activity.prom"
RULES_FILE = "/etc/audit/rules.d/60-llmsec-ai-activity.rules"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
MONITORING = os.path.join(REPO, "roles", "monitoring")
# The severity of each alert on ai_activity_audit's counters (roles/monitoring/templates/llmsec.rules.yml.j2).
SEVERITY = {"LlmsecModelReadByOtherUser": "critical", "LlmsecModelStoreChangedOutsideWindow": "critical",
            "LlmsecAIServerConfigChanged": "warning", "LlmsecAIServerRanAProgram": "critical",
            "LlmsecAIServerConnectedOut": "warning", "LlmsecAIActivityAuditOff": "critical"}

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


def gauges(host):
    """The audit's health from the consumer's textfile, the consumer run now: {name: value}."""
    host.check_output("systemctl start llmsec-ai-activity.service")
    return dict((name, int(value)) for name, value in re.findall(
        r"^llmsec_ai_activity_(audit_enabled|rules_missing|audit_lost) (\d+)$", host.file(TEXTFILE).content_string,
        re.M))


def grown(before, after):
    return dict((series, value - before.get(series, 0)) for series, value in after.items()
                if value != before.get(series, 0))


def our_rules(host):
    return [line for line in host.check_output("auditctl -l").splitlines() if "llmsec_" in line]


@pytest.fixture(scope="module")
def audited(host):
    """A store with a model the stand-in pulled as ollama (before any rule: the seeding is no event), then the
    role: in check mode first (it must load and write nothing), then twice (the second run changes nothing), then
    in check mode again (nothing to change)."""
    module_runs(host, [("ansible.builtin.copy", {"src": os.path.abspath(STANDIN), "dest": "/usr/bin/ollama",
                                                 "mode": "0755"})])
    host.check_output("install -d -o ollama -g ollama -m 0755 /usr/share/ollama %s" % STORE)
    serve_standin(host, "llmsec-audit-seed", 11510, STORE, "/usr/share/ollama")
    assert '"success"' in api(host, 11510, "/api/pull", {"model": "tiny:1b", "stream": False}).stdout
    host.check_output("systemctl stop llmsec-audit-seed")
    checked = run_role(host, role_vars(), args=["--check"], role=ROLE)
    assert checked.returncode == 0 and re.search(r"changed=[1-9]", checked.stdout), checked.stdout[-3000:]
    assert our_rules(host) == [] and not host.file(RULES_FILE).exists
    assert not host.file("/etc/systemd/system/llmsec-ai-activity.timer").exists
    first = run_role(host, role_vars(), role=ROLE)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    again = run_role(host, role_vars(), role=ROLE)
    assert again.returncode == 0 and re.search(r"changed=0\b", again.stdout), again.stdout[-3000:]
    checked = run_role(host, role_vars(), args=["--check"], role=ROLE)
    assert checked.returncode == 0 and re.search(r"changed=0\b", checked.stdout), checked.stdout[-3000:]
    yield host
    # The later tests of this VM run without the audit's cost on every system call (under TCG it doubles a
    # syscall); the rules file stays, and the reboot test checks that the boot loads it again.
    host.run("for key in llmsec_model_read llmsec_model_write llmsec_ai_config llmsec_ai_exec llmsec_ai_connect; "
             "do auditctl -D -k $key; done")


@pytest.fixture(scope="module")
def alert_rules(tmp_path_factory):
    """The monitoring role's alert rules rendered with its defaults on the controller, and Debian's promtool."""
    directory = tmp_path_factory.mktemp("rules")
    rendered = subprocess.run(
        ["ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.template", "-a",
         "src=%s dest=%s" % (os.path.join(MONITORING, "templates", "llmsec.rules.yml.j2"),
                             directory / "llmsec.rules.yml"),
         "-e", "@" + os.path.join(MONITORING, "defaults", "main.yml"),
         "-e", "@" + os.path.join(MONITORING, "vars", "main.yml"),
         "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"],
        capture_output=True, text=True, env=os.environ, timeout=300, check=False)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    promtool = subprocess.run([os.path.join(REPO, "tests", "harness", "promtool.sh")], capture_output=True,
                              text=True, timeout=600, check=True).stdout.strip()
    return directory, promtool


def assert_fires(alert_rules, series, expected):
    """Prometheus scraping the VM's textfile, as promtool plays it: each series ({name: labels}, before, after)
    at `before` for ten minutes (None: not there yet), then at `after`; at minute 14 exactly the alerts
    `expected` ([(alertname, {label: value})]) fire - no other, of any rule."""
    directory, promtool = alert_rules

    def selector(labels):
        return ", ".join('%s="%s"' % item for item in sorted(dict(labels, instance="llmsec-vm").items()))

    inputs = [{"series": "%s{%s}" % (name, selector(labels)),
               "values": "%sx10 %dx10" % ("_" if before is None else "%d" % before, after)}
              for name, labels, before, after in series]
    samples = []
    for name, labels in expected:
        alert = dict(labels, alertname=name, alertstate="firing", severity=SEVERITY[name])
        samples.append({"labels": "ALERTS{%s}" % selector(alert), "value": 1})
    test = {"rule_files": ["llmsec.rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": inputs,
        "promql_expr_test": [{"expr": 'ALERTS{alertstate="firing"}', "eval_time": "14m", "exp_samples": samples}]}]}
    (directory / "vm.test.yml").write_text(json.dumps(test))
    out = subprocess.run([promtool, "test", "rules", "vm.test.yml"], cwd=directory, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr


def assert_alerts(alert_rules, before, after, expected):
    """The counters `before` and `after` (counters()) fire exactly the alerts `expected`: {(alertname, user,
    exe)}."""
    series = []
    for labels in sorted(set(before) | set(after)):
        key, user, exe, window = labels
        names = dict(key=key, user=user, exe=exe, **({"window": window} if window else {}))
        series.append(("llmsec_ai_activity_events_total", names, before.get(labels),
                       after.get(labels, before.get(labels, 0))))
    assert_fires(alert_rules, series, [(name, {"user": user, "exe": exe}) for name, user, exe in sorted(expected)])


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


def test_the_normal_path_adds_nothing(audited, alert_rules):
    """The stand-in as Ollama runs it: started, a generation (its runner exec'd, the blob mapped, loopback
    connections to the runner), stopped; and a root service reading the blob as the integrity timer does."""
    path = blob(audited)  # before counting: the shell's glob reads the store's directory
    before = counters(audited)
    try:
        serve_standin(audited, "llmsec-audit-serve", 11511, STORE, "/usr/share/ollama")
        out = api(audited, 11511, "/api/generate", {"model": "tiny:1b", "prompt": "hi", "stream": False})
        assert out.rc == 0 and json.loads(out.stdout)["done"] is True, out.stderr
    finally:
        audited.run("systemctl stop llmsec-audit-serve")
    # The integrity timer's kind of read: root, started by systemd (no login uid), the host's Python.
    audited.check_output("systemd-run --wait --quiet /usr/bin/python3 -c \"open('%s', 'rb').read()\"" % path)
    after = counters(audited)
    assert grown(before, after) == {}
    assert_alerts(alert_rules, before, after, set())


@pytest.fixture(scope="module")
def acts(audited):
    """What a compromised host shows, each act made for real: the counters before and after."""
    before = counters(audited)
    audited.check_output("runuser -u nobody -- cat %s > /dev/null" % blob(audited))
    audited.check_output("runuser -u ollama -- /bin/sh -c true")
    audited.check_output("mkdir -p /etc/systemd/system/ollama.service.d && "
                         "printf '[Service]\\nEnvironment=OLLAMA_HOST=0.0.0.0\\n' > "
                         "/etc/systemd/system/ollama.service.d/zz-evil.conf")
    audited.check_output("cp /etc/hostname %s/blobs/planted" % STORE)
    # Root logged in (this SSH session) reading a blob: counted under root's name, alerted on nothing.
    audited.check_output("/usr/bin/python3 -c \"open('%s', 'rb').read(1)\"" % blob(audited))
    # Off loopback: the VM's gateway (user networking); refused or not, the connect() is the act.
    # By its path: runuser's search of PATH for python3 would be failed execs of the ollama user, which count.
    audited.run("runuser -u ollama -- /usr/bin/python3 -c \"import socket; s = socket.socket(); s.settimeout(3); "
                "s.connect_ex(('10.0.2.2', 9))\"")
    try:
        return before, counters(audited)
    finally:
        audited.run("rm -f /etc/systemd/system/ollama.service.d/zz-evil.conf %s/blobs/planted" % STORE)


def test_each_act_shows_up_as_its_counter(audited, acts):
    new = grown(*acts)
    assert new.get(("llmsec_model_read", "nobody", "/usr/bin/cat", "")) == 1, new
    assert new.get(("llmsec_ai_exec", "ollama", "/usr/bin/dash", "")) == 1, new
    assert new.get(("llmsec_model_write", "root", "/usr/bin/cp", "closed"), 0) >= 1, new
    assert new.get(("llmsec_model_read", "root", "/usr/bin/python3.11", "")) == 1, new
    assert any(key == "llmsec_ai_config" and user == "root" and window == "closed"
               for key, user, _e, window in new), new
    assert any(key == "llmsec_ai_connect" and user == "ollama" and window == "closed"
               for key, user, _e, window in new), new
    # The last events are kept for the report, root-only.
    state = json.loads(audited.check_output("cat /var/lib/llmsec/ai-activity/state.json"))
    assert any(event["key"] == "llmsec_model_read" and blob(audited) in event["paths"] for event in state["last"])
    assert audited.file("/var/lib/llmsec/ai-activity/state.json").mode == 0o600


def test_each_act_fires_its_alert(acts, alert_rules):
    """Every act's counter fires its alert, with the user and program that did it; nothing else fires."""
    before, after = acts
    new = grown(before, after)
    alert = {"llmsec_ai_config": "LlmsecAIServerConfigChanged", "llmsec_ai_connect": "LlmsecAIServerConnectedOut"}
    expected = {("LlmsecModelReadByOtherUser", "nobody", "/usr/bin/cat"),
                ("LlmsecAIServerRanAProgram", "ollama", "/usr/bin/dash"),
                ("LlmsecModelStoreChangedOutsideWindow", "root", "/usr/bin/cp")}
    expected |= set((alert[key], user, exe) for key, user, exe, _window in new if key in alert)
    assert_alerts(alert_rules, before, after, expected)


def test_the_fleet_report_carries_the_counts(acts, tmp_path):
    """playbooks/audit.yml on the VM: local_ai_facts reads the consumer's counts and the report shows them."""
    out = run_playbook("audit", VM + ",localhost", {"llmsec_audit_hosts": VM, "llmsec_audit_report_dir": str(tmp_path)})
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    report = json.loads((tmp_path / "posture.json").read_text())
    (entry,) = report["hosts"]
    counts = entry["activity"]["counts"]
    for key in ("llmsec_model_read", "llmsec_ai_exec", "llmsec_model_write", "llmsec_ai_config",
                "llmsec_ai_connect"):
        assert counts.get(key, 0) >= 1, counts
    assert entry["activity"]["by_user"]["llmsec_model_read"].get("nobody", 0) >= 1
    assert entry["activity"]["outside_window"]["llmsec_ai_config"] >= 1
    assert report["summary"]["activity"]["hosts_watched"] == 1
    assert "| %s | llmsec_ai_config" % VM in (tmp_path / "posture.md").read_text()


def test_a_blinded_audit_is_seen_and_the_role_loads_its_rules_again(audited, alert_rules):
    """Root unloads the rules of a key, then turns auditing off: the gauges say so and LlmsecAIActivityAuditOff
    fires; the next run of the role loads the rules again (their file did not change)."""
    rules = our_rules(audited)
    healthy = gauges(audited)
    assert (healthy["audit_enabled"], healthy["rules_missing"]) == (1, 0), healthy
    enabled = re.search(r"^enabled (\d)$", audited.check_output("auditctl -s"), re.M).group(1)
    audited.check_output("auditctl -D -k llmsec_model_read")
    removed = len(rules) - len(our_rules(audited))  # the key's rules (auditctl matches the allow rules' key too)
    try:
        unloaded = gauges(audited)
        audited.check_output("auditctl -e 0")
        off = gauges(audited)
    finally:
        audited.run("auditctl -e %s" % enabled)
    assert removed >= 2 and unloaded["rules_missing"] == removed and off["audit_enabled"] == 0, (removed, unloaded, off)
    for broken in (unloaded, off):
        assert_fires(alert_rules, [("llmsec_ai_activity_%s" % name, {}, healthy[name], broken[name])
                                   for name in ("audit_enabled", "rules_missing")],
                     [("LlmsecAIActivityAuditOff", {})])
    assert_fires(alert_rules, [("llmsec_ai_activity_%s" % name, {}, healthy[name], healthy[name])
                               for name in ("audit_enabled", "rules_missing")], [])
    again = run_role(audited, role_vars(), role=ROLE)
    assert again.returncode == 0 and "loading them again" in again.stdout, again.stdout[-3000:]
    assert sorted(our_rules(audited)) == sorted(rules)
    assert gauges(audited)["rules_missing"] == 0


BAD_INPUT = [
    (role_vars(ai_activity_audit_stores=["/srv/no-such-store"]),
     "ai_activity_audit_stores[0] (/srv/no-such-store) is not a directory"),
    (role_vars(ai_activity_audit_server_users=["no-such-user"]),
     "ai_activity_audit_server_users[0] (no-such-user) is no user"),
    (role_vars(ai_activity_audit_stores=["/usr"]), "auditing every read there would audit the whole system"),
]


def test_bad_input_changes_no_rule(audited):
    rules = audited.check_output("auditctl -l")
    text = audited.file(RULES_FILE).content_string
    results = refusals(audited, [variables for variables, _message in BAD_INPUT], role=ROLE)
    for variables, message in BAD_INPUT:
        assert_refused(results[case_key(variables)], message)
    assert audited.check_output("auditctl -l") == rules
    assert audited.file(RULES_FILE).content_string == text
