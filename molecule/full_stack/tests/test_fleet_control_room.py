"""The fleet control room (monitoring_server) from outside: the central host scrapes both hardened hosts through
their nginx, alerts reach the SOC's webhook (HTTPS, bearer token), a host that stops answering holds back its other
alerts, and the metrics paths answer nobody but the central scraper."""

import calendar
import json
import os
import subprocess
import time

import pytest

from scenario_helpers import EPHEMERAL, Refusals, call, flipped_blob, install_ca_certificates, inventory_host, token

NATIVE, CONTAINER, OPEN, ATTACKER = "llmsec-fs-native", "llmsec-fs-container", "llmsec-fs-open", "llmsec-fs-attacker"
CENTRAL, HOOKS = "llmsec-fs-central", "llmsec-fs-hooks"
HARDENED = [NATIVE, CONTAINER]
STORE = {NATIVE: "/usr/share/ollama/.ollama/models", CONTAINER: "/srv/ollama/models"}
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
# The bound from a tampered blob to the webhook.
ALERT_DEADLINE = 120


@pytest.fixture(scope="module")
def central():
    return inventory_host(CENTRAL)


@pytest.fixture(scope="module")
def attacker():
    install_ca_certificates(ATTACKER, HARDENED)
    return inventory_host(ATTACKER)


def api(central, port, path):
    return json.loads(central.check_output("curl -sS --max-time 10 http://127.0.0.1:%d%s" % (port, path)))


def notifications(since):
    """Every alert the webhook received after `since`, as (time, authorized, status, labels)."""
    lines = inventory_host(HOOKS).run("cat /root/hooks.jsonl").stdout.splitlines()
    out = []
    for record in map(json.loads, lines):
        if record["time"] < since or not isinstance(record["body"], dict):
            continue
        for alert in record["body"].get("alerts", []):
            out.append((record["time"], record["authorized"], alert["status"], alert["labels"]))
    return out


def wait_for_notification(since, alertname, instance, status="firing", timeout=ALERT_DEADLINE):
    """Seconds from `since` to the first notification of alertname for instance in status; its labels."""
    deadline = since + timeout
    while time.time() < deadline:
        for when, authorized, state, labels in notifications(since):
            if labels.get("alertname") == alertname and labels.get("instance") == instance and state == status:
                assert authorized, "the webhook got the alert without the bearer token"
                return when - since, labels
        time.sleep(2)
    raise AssertionError("no %s %s for %s at the webhook within %ss; it got: %s" % (
        status, alertname, instance, timeout, notifications(since)))


# --- scraping through the front door ---------------------------------------------------------------

def test_the_fleet_is_scraped_through_nginx_labelled_from_the_inventory(central):
    targets = api(central, 9090, "/api/v1/targets?state=active")["data"]["activeTargets"]
    fleet = {(t["labels"]["job"], t["labels"]["instance"]): t for t in targets if t["labels"]["job"] != "prometheus"
             and t["labels"]["job"] != "alertmanager"}
    assert set(fleet) == {(job, host) for job in ("node", "llmsec_gateway") for host in HARDENED}, fleet.keys()
    for (job, host), target in fleet.items():
        assert target["health"] == "up", (job, host, target["lastError"])
        assert target["scrapeUrl"].startswith("https://%s:443/llmsec/fleet/metrics/" % host)
    assert fleet[("node", NATIVE)]["labels"]["shape"] == "native"
    assert fleet[("node", CONTAINER)]["labels"]["shape"] == "container"
    assert "ollama_container" in fleet[("node", CONTAINER)]["labels"]["groups"].split(",")
    # The monitoring role's rules and the fleet's own are evaluated here.
    groups = {group["name"] for group in api(central, 9090, "/api/v1/rules")["data"]["groups"]}
    assert {"llmsec-local-ai", "llmsec-fleet"} <= groups
    # Prometheus, Alertmanager (and its cluster port) on loopback only.
    listening = central.check_output("ss -Htlnp")
    assert "127.0.0.1:9090" in listening and "127.0.0.1:9093" in listening
    assert ":9094" not in listening and "*:9090" not in listening and "0.0.0.0:9093" not in listening
    dashboard = central.check_output("cat /etc/grafana/provisioning/dashboards/llmsec/llmsec-local-ai.json")
    assert json.loads(dashboard)["uid"] == "llmsec-local-ai"
    assert "http://127.0.0.1:9090" in central.check_output("cat /etc/grafana/provisioning/datasources/llmsec-fleet.yml")


@pytest.mark.parametrize("server", HARDENED)
def test_the_metrics_paths_answer_only_the_central_scraper(attacker, central, server):
    for path in ("/llmsec/fleet/metrics/node", "/llmsec/fleet/metrics/gateway"):
        # No certificate, or an authenticated API user's token: 403, nothing of the host's metrics.
        status, _h, body = call(attacker, server, path)
        assert status == 403 and "node_" not in body
        status, _h, body = call(attacker, server, path, token(subject="curious-consumer"))
        assert status == 403 and "node_" not in body
    # A certificate the attacker made for the scraper's name, from a CA of its own: no handshake.
    attacker.check_output(
        "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        "-subj /CN=llmsec-fleet-scraper -keyout fake.key -out fake.crt 2>/dev/null")
    status, _h, body = call(attacker, server, "/llmsec/fleet/metrics/node", None, None, None,
                            "--cert", "/tmp/fake.crt", "--key", "/tmp/fake.key")
    assert status in (0, 400) and "node_" not in body
    # The scraper's own certificate, from the central host.
    out = central.check_output(
        "curl -sS --max-time 10 --cacert /etc/prometheus/llmsec-fleet/fleet-hosts-ca.pem "
        "--cert /etc/llmsec/fleet-pki/scraper.crt --key /etc/llmsec/fleet-pki/scraper.key "
        "https://%s/llmsec/fleet/metrics/node" % server)
    assert "node_systemd_unit_state" in out and "llmsec_tls_certificate_expiry_timestamp_seconds" in out


# --- alerts that reach a person ------------------------------------------------------------------

def firing(central, alertname, instance):
    query = 'ALERTS{alertname="%s",instance="%s",alertstate="firing"}' % (alertname, instance)
    return api(central, 9090, "/api/v1/query?query=" + query.replace('"', "%22").replace("{", "%7B").replace(
        "}", "%7D").replace(",", "%2C"))["data"]["result"]


def test_a_flipped_byte_reaches_the_webhook_naming_host_and_model_then_resolves(central):
    host = inventory_host(CONTAINER)
    check = "systemctl reset-failed llmsec-model-integrity.service; systemctl start llmsec-model-integrity.service"
    # From a passing check whose all-clear reached the webhook: the alert below is this test's. (Alertmanager
    # does not repeat a firing alert it already sent unless it sent the resolved one in between.)
    start = time.time()
    already = firing(central, "LlmsecModelIntegrityFailed", CONTAINER)
    assert host.run(check).rc == 0
    if already:
        wait_for_notification(start, "LlmsecModelIntegrityFailed", CONTAINER, status="resolved")
    with flipped_blob(host, STORE[CONTAINER], "/root/alert-flip-backup"):
        tampered = time.time()
        assert host.run(check).rc != 0
        delay, labels = wait_for_notification(tampered, "LlmsecModelIntegrityFailed", CONTAINER)
        print("\ntamper to webhook: %.1f s (scrape 5s, group_wait 5s in this scenario)" % delay)
        assert labels.get("model") == "tiny:1b" and labels["severity"] == "critical"
    restored = time.time()
    assert host.run(check).rc == 0
    delay, _labels = wait_for_notification(restored, "LlmsecModelIntegrityFailed", CONTAINER, status="resolved")
    print("restore to resolved: %.1f s" % delay)


def test_ollama_down_is_reported_and_a_host_down_holds_back_its_other_alerts(central):
    native = inventory_host(NATIVE)
    stopped = time.time()
    native.check_output("systemctl stop ollama.service")
    try:
        wait_for_notification(stopped, "LlmsecOllamaDown", NATIVE)
    finally:
        native.check_output("systemctl start ollama.service")
    # nginx stopped: the central host hears nothing from the host, neither its node exporter nor its gateway.
    cut = time.time()
    native.check_output("systemctl stop nginx.service")
    try:
        wait_for_notification(cut, "LlmsecFleetHostDown", NATIVE)
        # The gateway's target is down too; its alert is held back by the host's, never sent.
        deadline = time.time() + 60
        while True:
            alerts = api(central, 9093, "/api/v2/alerts")
            gateway = [a for a in alerts if a["labels"]["alertname"] == "LlmsecGatewayDown"
                       and a["labels"].get("instance") == NATIVE]
            if gateway or time.time() > deadline:
                break
            time.sleep(2)
        assert gateway, "LlmsecGatewayDown never fired for the host whose nginx is stopped"
        assert gateway[0]["status"]["state"] == "suppressed" and gateway[0]["status"]["inhibitedBy"]
        time.sleep(12)  # a group_interval (10 s here) and more: what was held back stays held back
        assert not [n for n in notifications(cut) if n[3]["alertname"] == "LlmsecGatewayDown"
                    and n[3].get("instance") == NATIVE]
        # The other host's alerts are not held back by this one's.
        assert not [a for a in alerts if a["labels"].get("instance") == CONTAINER and a["status"]["state"] == "suppressed"]
    finally:
        native.check_output("systemctl start nginx.service")
    wait_for_notification(cut, "LlmsecFleetHostDown", NATIVE, status="resolved")


def test_a_fleet_host_keeps_evaluating_its_rules_while_the_central_host_is_down(central):
    """The central Prometheus and Alertmanager stopped: each fleet host's own Prometheus still scrapes and evaluates
    the monitoring role's rules (its evaluation interval is 15 s)."""
    central.check_output("systemctl stop prometheus.service prometheus-alertmanager.service")
    stopped = time.time()
    try:
        for server in HARDENED:
            host = inventory_host(server)
            deadline = time.time() + 45
            while True:
                groups = json.loads(host.check_output(
                    "curl -sS --max-time 5 http://127.0.0.1:9090/api/v1/rules"))["data"]["groups"]
                evaluated = [group["lastEvaluation"] for group in groups]
                after = [stamp for stamp in evaluated
                         if calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")) > stopped]
                if groups and len(after) == len(groups) or time.time() > deadline:
                    break
                time.sleep(3)
            assert groups and len(after) == len(groups), (server, evaluated)
            assert all(rule["health"] == "ok" for group in groups for rule in group["rules"]), server
    finally:
        central.check_output("systemctl start prometheus.service prometheus-alertmanager.service")
        # Back to scraping both hosts' two jobs before the next test asks the central Prometheus.
        deadline = time.time() + 60
        query = "curl -sS -G --max-time 5 http://127.0.0.1:9090/api/v1/query --data-urlencode " \
                "'query=count(up{job=~\"node|llmsec_gateway\"} == 1)'"
        while time.time() < deadline:
            result = central.run(query)
            if result.rc == 0 and '"4"' in result.stdout:
                break
            time.sleep(2)


def test_check_mode_on_the_control_room_changes_nothing():
    """--check of the three fleet roles on converged hosts (the scenario has no check phase: its hosts need the
    fleet CA first) runs through and would change nothing."""
    result = subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(ROOT, "playbooks", "site.yml"),
         "--limit", "%s,%s" % (CENTRAL, NATIVE), "--tags", "monitoring_server,audit_collector,audit_forwarding",
         "--check", "-e", json.dumps({"llmsec_site_audit": False, "llmsec_target_hosts": "ollama_native:ollama_container"})],
        capture_output=True, text=True, env=os.environ, timeout=600, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    recap = [line for line in result.stdout.splitlines() if line.startswith((CENTRAL, NATIVE)) and "ok=" in line]
    assert len(recap) == 2 and all(" changed=0 " in line for line in recap), "\n".join(recap)


# --- bad input ---------------------------------------------------------------------------------------

BAD_INPUT = [
    ({"monitoring_server_webhook_receivers": [{"name": "soc", "url": "http://llmsec-fs-hooks:9443/alerts"}]},
     "monitoring_server_webhook_receivers[0].url must be https://"),
    ({"monitoring_server_email_receivers": [{"name": "mail", "to": ["soc@example.com"]}],
      "monitoring_server_smtp": {"smarthost": "smtp.example.com:587", "from": "alerts@example.com",
                                 "username": "alerts", "password": "typed-in-clear"}},
     "monitoring_server_smtp.password must come from Ansible Vault"),
    ({"monitoring_server_fleet_hosts": [NATIVE, OPEN]},
     "monitoring_server_fleet_hosts: %s has no certificate" % OPEN),
]


@pytest.fixture(scope="module")
def bad_input(central):
    files = ("sha256sum /etc/prometheus/prometheus.yml /etc/prometheus/alertmanager.yml "
             "/etc/prometheus/file_sd/*.yml /etc/prometheus/llmsec-alertmanager/*")
    return Refusals(central, BAD_INPUT, lambda: central.check_output(files), role="llmsec.hardening.monitoring_server")


@pytest.mark.parametrize("extra, message", BAD_INPUT)
def test_bad_input_is_refused_before_the_central_host_changes(bad_input, extra, message):
    bad_input.check(extra, message)


# --- the audit from the central Prometheus -------------------------------------------------------------

def test_audit_reads_the_fleet_from_the_central_prometheus():
    """playbooks/audit.yml without visiting the hosts: the central Prometheus's last scans. The unhardened host
    is not a fleet host (not scraped): reported as not audited, not as clean."""
    report_dir = os.path.join(EPHEMERAL, "audit-from-prometheus")
    subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(ROOT, "playbooks", "audit.yml"),
         "-e", json.dumps({"llmsec_audit_hosts": "ollama_native:ollama_container:unmanaged",
                           "llmsec_audit_source": "prometheus", "llmsec_audit_report_dir": report_dir})],
        check=True, capture_output=True, text=True, env=os.environ, timeout=600)
    with open(os.path.join(report_dir, "posture.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    entries = {entry["host"]: entry for entry in report["hosts"]}
    for server in HARDENED:
        assert entries[server]["audited"] and entries[server]["findings"] == [], entries[server]
        assert {item["kind"] for item in entries[server]["servers"]} == {"ollama"}, entries[server]
    assert not entries[OPEN]["audited"] and "central Prometheus" in entries[OPEN]["error"]


def test_what_a_fleet_host_costs_the_central_host(central):
    """Figures for the README's arithmetic (printed, not asserted beyond sanity): series, samples and scrape time
    per fleet host, the central Prometheus's memory and head series, what each host ships."""
    def value(query):
        result = api(central, 9090, "/api/v1/query?query=" + query.replace(" ", "%20").replace('"', "%22")
                     .replace("{", "%7B").replace("}", "%7D").replace("=~", "%3D~").replace("|", "%7C")
                     .replace("(", "%28").replace(")", "%29"))["data"]["result"]
        return {sample["metric"].get("instance", ""): float(sample["value"][1]) for sample in result}

    samples = value('sum by (instance) (scrape_samples_scraped{job=~"node|llmsec_gateway"})')
    durations = value('sum by (instance) (scrape_duration_seconds{job=~"node|llmsec_gateway"})')
    memory = value('process_resident_memory_bytes{job="prometheus"}')
    head = value("prometheus_tsdb_head_series")
    # What each host shipped so far: entries and bytes in journald's export format (what the upload carries).
    shipped = {host: central.check_output(
        "journalctl --file='/var/log/llmsec-fleet/journal/%s*.journal' -o export | "
        "awk 'BEGIN{n=0} /^__CURSOR=/{n++} {b+=length($0)+1} END{print n, b}'" % host) for host in HARDENED}
    print("\nper fleet host: samples per scrape %s, scrape seconds %s; central Prometheus RSS %.0f MiB, head series "
          "%d; shipped so far (entries, export bytes) %s" % (
              samples, durations, list(memory.values())[0] / 2 ** 20, list(head.values())[0], shipped))
    assert all(count > 100 for count in samples.values()) and set(samples) == set(HARDENED)
