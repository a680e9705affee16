"""The fleet's audit trail off the hosts (audit_forwarding -> audit_collector): a request through a fleet host's
gateway is found on the central host by llmsec-fleet-audit, survives the host's own log being deleted, and
requests made while the central receiver is down arrive once it is back."""

import json
import time

import pytest

from scenario_helpers import Refusals, call, install_ca_certificates, inventory_host, token

NATIVE, CONTAINER, ATTACKER, CENTRAL = "llmsec-fs-native", "llmsec-fs-container", "llmsec-fs-attacker", "llmsec-fs-central"
AUDIT_LOG = "/var/log/llmsec-gateway/audit.log"
JOURNALS = "/var/log/llmsec-fleet/journal"


@pytest.fixture(scope="module")
def attacker():
    install_ca_certificates(ATTACKER, [NATIVE, CONTAINER])
    return inventory_host(ATTACKER)


@pytest.fixture(scope="module")
def central():
    return inventory_host(CENTRAL)


def send(attacker, server, prompt, subject):
    status, _h, _b = call(attacker, server, "/api/generate", token(subject=subject),
                          {"model": "tiny:1b", "prompt": prompt, "stream": False})
    assert status == 200


def fleet_audit(central, text, user=None):
    command = "llmsec-fleet-audit --text %s" % json.dumps(text)
    if user:
        command = "runuser -u %s -- %s" % (user, command)
    result = central.run(command)
    return result.rc, (json.loads(result.stdout) if result.stdout.strip() else {}), result.stderr


def wait_found(central, text, timeout=90):
    deadline = time.time() + timeout
    while True:
        rc, out, err = fleet_audit(central, text)
        if rc == 0 or time.time() > deadline:
            return rc, out, err
        time.sleep(3)


def test_a_request_is_found_fleet_wide_and_survives_the_host_deleting_its_log(attacker, central):
    prompt = "FLEET-AUDIT-OSPREY-%d" % int(time.time())
    send(attacker, CONTAINER, prompt, "fleet-audited")
    rc, out, err = wait_found(central, prompt)
    assert rc == 0, (out, err)
    (hit,) = out["found"]
    assert (hit["host"], hit["subject"], hit["as"], hit["key_id"]) == (CONTAINER, "fleet-audited", ["prompt"], "1")
    assert out["hosts"] == 2
    # The host's own log is gone (an intruder cleaning up): the central copy still answers.
    inventory_host(CONTAINER).check_output("rm -f %s %s.1 && systemctl reload llmsec-gateway.service" % (AUDIT_LOG, AUDIT_LOG))
    rc, out, _err = fleet_audit(central, prompt)
    assert rc == 0 and out["found"][0]["host"] == CONTAINER
    # A text never sent is not found; nothing of the text is on the central host.
    assert fleet_audit(central, prompt + "-never-sent")[0] == 1
    assert central.run("grep -rq %s %s" % (prompt, JOURNALS)).rc != 0


def test_auditors_read_the_trail_and_others_cannot(central):
    central.check_output("id fleet-auditor || useradd -M -G llmsec-auditors fleet-auditor; id nosy || useradd -M nosy")
    rc, out, err = fleet_audit(central, "anything", user="fleet-auditor")
    assert rc == 1 and out["hosts"] == 2, err
    rc, _out, err = fleet_audit(central, "anything", user="nosy")
    assert rc == 2 and "Permission denied" in err
    # The receivers only add: nobody but them writes the files, the auditors read them.
    listing = central.check_output("stat -c '%%U %%a %%n' %s/*.journal" % JOURNALS)
    assert all(line.startswith("systemd-journal-remote 640 ") for line in listing.splitlines()), listing
    assert "group:llmsec-auditors:r" in central.check_output("getfacl %s/%s.journal" % (JOURNALS, NATIVE))


def test_records_made_while_the_central_receiver_is_down_arrive_after(attacker, central):
    central.check_output("systemctl stop nginx.service")
    prompts = ["FLEET-AUDIT-OUTAGE-%d-%d" % (int(time.time()), index) for index in range(5)]
    try:
        for prompt in prompts:
            send(attacker, NATIVE, prompt, "during-outage")
        time.sleep(12)  # the uploader fails, and fails again on its restart 10 s later
        assert fleet_audit(central, prompts[-1])[0] == 1
    finally:
        central.check_output("systemctl start nginx.service")
    for prompt in prompts:
        rc, out, err = wait_found(central, prompt, timeout=120)
        assert rc == 0, (prompt, out, err)
        assert [hit["host"] for hit in out["found"]] == [NATIVE]


@pytest.mark.parametrize("server", [NATIVE, CONTAINER])
def test_the_other_shipped_services_arrive_too(central, server):
    # The local AI scan runs every minute on both hosts; its findings' summary line is in the shipped journal.
    out = central.check_output("journalctl --no-pager -o cat --file='%s/%s*.journal' "
                               "_SYSTEMD_UNIT=llmsec-local-ai-scan.service | grep -c local_ai_scan || true"
                               % (JOURNALS, server))
    assert int(out.strip() or 0) > 0


# --- bad input -------------------------------------------------------------------------------------------

FORWARDING_BAD_INPUT = [
    ({"audit_forwarding_url": "http://%s:19532" % CENTRAL}, "audit_forwarding_url must be https://host[:port]"),
    ({"audit_forwarding_collector": "no-such-host"},
     "audit_forwarding_collector must name the inventory host running audit_collector, got no-such-host"),
    ({"audit_forwarding_ca": ""}, "audit_forwarding_ca must be the fleet CA certificate in PEM"),
]
FORWARDING_STATE = ("sha256sum /etc/systemd/system/llmsec-journal-upload.service /etc/llmsec/audit-forwarding/* "
                    "/etc/systemd/system/*.d/llmsec-audit-forwarding.conf; systemctl is-active llmsec-journal-upload")


@pytest.fixture(scope="module")
def forwarding_bad_input(central):
    ca = central.file("/etc/llmsec/fleet-pki/ca.crt").content_string
    # Each case is otherwise right: the fleet CA as site.yml passes it, so only the case's variable is wrong.
    cases = [(dict({"audit_forwarding_ca": ca}, **variables), message) for variables, message in FORWARDING_BAD_INPUT]
    native = inventory_host(NATIVE)
    return Refusals(native, cases, lambda: native.check_output(FORWARDING_STATE),
                    role="llmsec.hardening.audit_forwarding"), ca


@pytest.mark.parametrize("extra, message", FORWARDING_BAD_INPUT)
def test_bad_forwarding_input_is_refused_before_the_host_changes(forwarding_bad_input, extra, message):
    refusals, ca = forwarding_bad_input
    refusals.check(dict({"audit_forwarding_ca": ca}, **extra), message)


COLLECTOR_BAD_INPUT = [
    ({"audit_collector_hmac_keys": {"1": "a-key-typed-into-plain-group-vars-0123456789"}},
     "audit_collector_hmac_keys[1] must come from Ansible Vault, not a plain variable"),
    ({"audit_collector_fleet_hosts": [NATIVE, "evil host;rm"]},
     "audit_collector_fleet_hosts: evil host;rm is not a host name"),
    ({"audit_collector_retention": "forever"}, "audit_collector_retention must be a duration"),
]
COLLECTOR_STATE = ("sha256sum /etc/nginx/conf.d/llmsec-audit-collector.conf /etc/llmsec/fleet-audit-keys.json "
                   "/etc/llmsec/audit-collector/* /etc/systemd/system/llmsec-journal-remote@* "
                   "/etc/systemd/system/llmsec-fleet-journal-vacuum.*; ls /etc/systemd/system/*.wants; "
                   "getfacl -p %s" % JOURNALS)


@pytest.fixture(scope="module")
def collector_bad_input(central):
    return Refusals(central, COLLECTOR_BAD_INPUT, lambda: central.check_output(COLLECTOR_STATE),
                    role="llmsec.hardening.audit_collector")


@pytest.mark.parametrize("extra, message", COLLECTOR_BAD_INPUT)
def test_bad_collector_input_is_refused_before_the_central_host_changes(collector_bad_input, extra, message):
    collector_bad_input.check(extra, message)
