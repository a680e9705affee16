"""The fleet's audit trail off the hosts (audit_forwarding -> audit_collector): a request through a fleet host's
gateway is found on the central host by llmsec-fleet-audit, survives the host's own log being deleted, and
requests made while the central receiver is down arrive once it is back."""

import json
import time

import pytest

from scenario_helpers import call, install_ca_certificates, inventory_host, token

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
        time.sleep(15)  # the uploader fails and retries meanwhile
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
