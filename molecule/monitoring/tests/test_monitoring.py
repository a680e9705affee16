"""Verify monitoring: Prometheus on loopback, rules tested, alerts firing, local_ai_facts and the audit report."""

import json
import os
import subprocess

import pytest

from grafana_queries import dashboard_queries
from scenario_helpers import EPHEMERAL, Refusals, ansible_module, inventory_host, wait_for

HARDENED, EXPOSED, PROBE = "llmsec-mon-hardened", "llmsec-mon-exposed", "llmsec-mon-probe"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def api(host, path):
    return json.loads(inventory_host(host).check_output("curl -s 'http://127.0.0.1:9090%s'" % path))


def alerts(host):
    return api(host, "/api/v1/alerts")["data"]["alerts"]


def firing(host, name):
    return [alert for alert in alerts(host) if alert["labels"]["alertname"] == name and alert["state"] == "firing"]


@pytest.mark.parametrize("server", [HARDENED, EXPOSED])
def test_prometheus_and_node_exporter_listen_on_loopback_only(server):
    listeners = inventory_host(server).check_output("ss -Hltn")
    assert "127.0.0.1:9090" in listeners and "127.0.0.1:9100" in listeners
    for port in (9090, 9100):
        assert "*:%d" % port not in listeners and "0.0.0.0:%d" % port not in listeners
        assert "[::]:%d" % port not in listeners
    probe = inventory_host(PROBE)
    assert probe.run("curl -s --max-time 5 http://%s:9090/api/v1/targets" % server).rc != 0
    assert probe.run("curl -s --max-time 5 http://%s:9100/metrics" % server).rc != 0


@pytest.mark.parametrize("server", [HARDENED, EXPOSED])
def test_targets_are_healthy(server):
    targets = api(server, "/api/v1/targets?state=active")["data"]["activeTargets"]
    health = {target["labels"]["job"]: target["health"] for target in targets}
    assert health["prometheus"] == "up" and health["node"] == "up"
    if server == EXPOSED:
        assert health["llmsec_gateway"] == "down"  # expected, and not running: LlmsecGatewayDown


@pytest.mark.parametrize("server", [HARDENED, EXPOSED])
def test_alert_unit_tests_pass_on_the_host(server):
    out = inventory_host(server).check_output("cd /etc/prometheus/rules && promtool test rules llmsec.rules.test.yml")
    assert "SUCCESS" in out


def test_rule_tests_can_fail():
    """Tamper with a threshold in a copy of the rules: promtool's tests must catch it."""
    host = inventory_host(HARDENED)
    result = host.run("d=$(mktemp -d) && cp /etc/prometheus/rules/llmsec.rules.* $d && "
                      "sed -i 's/> 20$/> 100000/' $d/llmsec.rules.yml && cd $d && promtool test rules "
                      "llmsec.rules.test.yml; rc=$?; rm -rf $d; exit $rc")
    assert result.rc != 0 and "LlmsecAuthFailureBurst" in result.stdout + result.stderr


def test_scan_metrics_reach_prometheus():
    query = "/api/v1/query?query=llmsec_local_ai_findings%7Bkind%3D%22nonloopback_listener%22%7D"
    wait_for(lambda: any(item["value"][1] == "1" for item in api(EXPOSED, query)["data"]["result"]), 60,
             "the exposed host's finding in Prometheus")
    hardened = api(HARDENED, query)["data"]["result"]
    assert hardened and all(item["value"][1] == "0" for item in hardened)
    servers = api(HARDENED, "/api/v1/query?query=llmsec_local_ai_servers")["data"]["result"]
    assert servers[0]["metric"]["kind"] == "ollama" and servers[0]["value"][1] == "1"


def test_off_loopback_alert_fires_on_the_exposed_host_only():
    wait_for(lambda: firing(EXPOSED, "LlmsecAIServerOffLoopback"), 90, "LlmsecAIServerOffLoopback firing")
    assert not firing(HARDENED, "LlmsecAIServerOffLoopback")
    assert [alert for alert in alerts(HARDENED) if alert["state"] == "firing"] == []


def test_known_risk_alert_fires_for_the_old_release():
    wait_for(lambda: firing(EXPOSED, "LlmsecAIServerAtKnownRisk"), 90, "LlmsecAIServerAtKnownRisk firing")
    assert not firing(HARDENED, "LlmsecAIServerAtKnownRisk")


def test_gateway_down_alert_fires():
    wait_for(lambda: firing(EXPOSED, "LlmsecGatewayDown"), 90, "LlmsecGatewayDown firing")


def test_ollama_down_alert_fires_and_clears():
    host = inventory_host(EXPOSED)
    host.check_output("systemctl stop ollama")
    try:
        wait_for(lambda: firing(EXPOSED, "LlmsecOllamaDown"), 90, "LlmsecOllamaDown firing")
    finally:
        host.check_output("systemctl start ollama")
    wait_for(lambda: not firing(EXPOSED, "LlmsecOllamaDown"), 90, "LlmsecOllamaDown cleared")


def test_local_ai_facts_reports_the_exposed_stand_in():
    # a model loaded for good (keep_alive -1), as a busy server keeps them: its runner maps the blob
    inventory_host(EXPOSED).check_output(
        "curl -sf -o /dev/null http://127.0.0.1:11434/api/generate -d %s",
        json.dumps({"model": "tiny:1b", "prompt": "hello", "stream": False, "keep_alive": -1}))
    exposed = ansible_module(EXPOSED, "llmsec.hardening.local_ai_facts", {})
    (server,) = [item for item in exposed["servers"] if item["role"] == "server"]
    assert server["kind"] == "ollama" and server["user"] == "ollama" and server["unit"] == "ollama.service"
    assert {"address": "::", "port": 11434} in server["listeners"]
    assert server["environment"]["OLLAMA_HOST"] == "0.0.0.0" and len(server["exe_sha256"]) == 64
    kinds = [(finding["kind"], finding.get("address")) for finding in exposed["findings"]]
    assert ("nonloopback_listener", "[::]:11434") in kinds
    # no firewall rule on loopback: the scan, tried as nobody, got in (IPv4; this host has no ::1)
    assert [finding["addresses"] for finding in exposed["findings"] if finding["kind"] == "local_access_open"] == [
        ["127.0.0.1:11434"]]
    # what a real host of this shape shows: an old release, no sandbox, a loaded model in a writable store
    assert server["version"] == "0.17.0"
    by_kind = {}
    for finding in exposed["findings"]:
        by_kind.setdefault(finding["kind"], []).append(finding)
    assert "CVE-2026-7482" in [finding["advisory"] for finding in by_kind["vulnerable_version"]]
    assert by_kind["unsandboxed_service"][0]["missing"] == ["NoNewPrivileges", "a syscall filter"]
    (runner,) = [item for item in exposed["servers"] if item["role"] == "runner"]
    assert runner["models"] and runner["models"][0].startswith("/usr/share/ollama/.ollama/models/blobs/sha256-")
    # the runner's mapped blob, and the server's store it could rewrite
    assert sorted(finding["path"] for finding in by_kind["writable_model"]) == sorted(
        runner["models"] + ["/usr/share/ollama/.ollama/models"])
    hardened = ansible_module(HARDENED, "llmsec.hardening.local_ai_facts", {})
    assert hardened["findings"] == [] and hardened["posture_score"] == 100
    assert hardened["ansible_facts"]["local_ai"]["servers"][0]["listeners"] == [{"address": "127.0.0.1",
                                                                                "port": 11434}]


def test_audit_playbook_reports_the_exposed_host_only(tmp_path):
    result = subprocess.run(["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"],
                             os.path.join(ROOT, "playbooks", "audit.yml"), "-e", "llmsec_audit_hosts=monitored",
                             "-e", "llmsec_audit_report_dir=%s" % tmp_path],
                            capture_output=True, text=True, env=os.environ, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "changed=0" in result.stdout.split("PLAY RECAP")[1].split(HARDENED)[1].split("\n")[0]
    report = json.loads((tmp_path / "posture.json").read_text())
    hosts = {entry["host"]: entry for entry in report["hosts"]}
    assert hosts[HARDENED]["findings"] == [] and hosts[HARDENED]["score"] == 100
    assert hosts[HARDENED]["models_checked"] is True  # the stand-in's store exists
    assert "nonloopback_listener" in [finding["kind"] for finding in hosts[EXPOSED]["findings"]]
    assert report["summary"]["clean_hosts"] == 1
    markdown = (tmp_path / "posture.md").read_text()
    assert "| %s | 100 |" % HARDENED in markdown and "nonloopback_listener" in markdown
    junit = (tmp_path / "posture.junit.xml").read_text()
    assert 'name="%s"' % EXPOSED in junit and "<failure" in junit


def test_dashboard_queries_parse_with_promtool():
    with open(os.path.join(EPHEMERAL, "grafana", "llmsec-local-ai.json")) as handle:
        queries = dashboard_queries(json.load(handle))
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": "dashboard:q%d" % index, "expr": query.replace("$instance", ".*")}
        for index, query in enumerate(queries)]}]}
    host = inventory_host(HARDENED)
    host.check_output("cat > /tmp/dashboard-queries.yml <<'EOF'\n%s\nEOF" % json.dumps(rules))
    out = host.check_output("promtool check rules /tmp/dashboard-queries.yml")
    assert "SUCCESS: %d rules found" % len(queries) in out


BAD_INPUT = [
    ({"monitoring_prometheus_address": "0.0.0.0"}, "monitoring_prometheus_address"),
    ({"monitoring_alert_for": {"ai_server_off_loopback": "soon"}}, "monitoring_alert_for"),
    # a dict from before the alert existed replaces the default as a whole
    ({"monitoring_alert_for": {"ai_server_off_loopback": "5m", "unapproved_model": "0m", "model_integrity": "0m",
                               "auth_failures": "1m", "inference_spike": "10m", "gateway_down": "2m",
                               "ollama_down": "2m"}}, "missing: ai_server_at_risk"),
]


@pytest.fixture(scope="module")
def bad_input():
    """Every refusal case in one Ansible run on the hardened host, with Prometheus' files around it."""
    host = inventory_host(HARDENED)
    files = "sha256sum /etc/prometheus/prometheus.yml /etc/default/prometheus"
    return Refusals(host, BAD_INPUT, lambda: host.check_output(files))


@pytest.mark.parametrize("extra, message", BAD_INPUT)
def test_bad_input_is_refused_before_the_host_changes(bad_input, extra, message):
    bad_input.check(extra, message)
