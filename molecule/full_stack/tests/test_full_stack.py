"""The whole stack from an attacker's seat: two hardened hosts (native and container), one unhardened."""

import hashlib
import hmac
import json
import os
import re
import subprocess
import time

import pytest

from scenario_helpers import (EPHEMERAL, PKI, allowed_signers, approver_keys, assert_streamed, call, copy_stream_probe,
                              flipped_blob,
                              install_ca_certificates, inventory_host, local_ai_findings, open_change_window, probe,
                              run_playbook, run_role, sign_lock, token, unit_status)

NATIVE, CONTAINER, OPEN, ATTACKER = "llmsec-fs-native", "llmsec-fs-container", "llmsec-fs-open", "llmsec-fs-attacker"
HARDENED = [NATIVE, CONTAINER]
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
AUDIT_LOG = "/var/log/llmsec-gateway/audit.log"
# The test fleet's audit HMAC key, vaulted in group_vars/all.yml (a test key: the vault password is the example's).
AUDIT_KEY = b"5f1d8c0e2a7b4c9d8e3f6a1b0c2d4e6f8a9b7c5d3e1f0a2b4c6d8e0f1a3b5c7d"
STORE = {NATIVE: "/usr/share/ollama/.ollama/models", CONTAINER: "/srv/ollama/models"}


@pytest.fixture(scope="module")
def attacker():
    install_ca_certificates(ATTACKER, HARDENED)
    copy_stream_probe(ATTACKER)
    return inventory_host(ATTACKER)


@pytest.fixture(scope="module")
def open_ports(attacker):
    """Every TCP port nmap finds open on each host (SYN scan of all 65535), the three hosts in one nmap run:
    the hardened hosts drop what they do not serve, so each scan waits out its probes, side by side."""
    servers = HARDENED + [OPEN]
    out = attacker.check_output("nmap -Pn -sS -p- -T4 --min-rate 4000 --max-retries 2 -oG - %s" % " ".join(servers))
    found = {}
    for server in servers:
        address = attacker.check_output("getent hosts %s" % server).split()[0]
        lines = [line for line in out.splitlines() if line.startswith("Host: %s " % address)]
        assert any("Status: Up" in line or "Ports: " in line for line in lines), (server, out)
        ports = [re.search(r"Ports: (.*?)(\t|$)", line).group(1) for line in lines if "Ports: " in line]
        found[server] = sorted(int(item.split("/")[0]) for group in ports for item in group.split(", ")
                               if item and item.split("/")[1] == "open")
    return found


# --- the network view ----------------------------------------------------------------------

@pytest.mark.parametrize("server", HARDENED)
def test_port_scan_shows_only_ssh_and_https(open_ports, server):
    assert open_ports[server] == [22, 443]


def test_the_scan_sees_what_is_there_on_the_unhardened_host(open_ports):
    """The same scan finds Ollama where nothing hides it: a scan that could not fail would prove nothing."""
    assert 11434 in open_ports[OPEN]


@pytest.mark.parametrize("server", HARDENED)
def test_ollama_port_is_closed(attacker, server):
    result = attacker.run("curl -sS -m 5 http://%s:11434/api/version" % server)
    assert result.rc != 0 and "version" not in result.stdout
    assert '"version"' in attacker.check_output("curl -sS -m 5 http://%s:11434/api/version" % OPEN)


@pytest.mark.parametrize("server", HARDENED)
def test_https_without_a_token_gets_401(attacker, server):
    status, headers, _body = call(attacker, server, "/api/tags")
    assert status == 401
    assert "strict-transport-security: max-age=" in headers
    status, _h, _b = call(attacker, server, "/api/generate", "not.a.token", {"model": "tiny:1b", "prompt": "hi"})
    assert status == 401


@pytest.mark.parametrize("server", HARDENED)
def test_consumer_token_streams_a_reply(attacker, server):
    body = json.dumps({"model": "tiny:1b", "prompt": "Why is the sky blue?"})
    result = probe(attacker, "stream_probe.py", "https://%s/api/generate" % server,
                   "--cafile", "%s/%s/ca.crt" % (PKI, server), "--bearer", token(subject="streamer"),
                   "--body", body)
    assert_streamed(result)


@pytest.mark.parametrize("server", HARDENED)
def test_consumer_token_cannot_pull(attacker, server):
    status, _h, _body = call(attacker, server, "/api/pull", token(subject="puller"), {"model": "evil/backdoor:1b"})
    assert status == 403


def test_a_container_beside_ollama_goes_through_the_front_door():
    """A service in a container on the container host (a RAG ingester, or a compromised neighbour) on Ollama's
    own network: Ollama's port is closed to it; the host's nginx answers it over TLS, 401 without a token and the
    models with one, as for any remote client (so it is authenticated, audited and metered)."""
    host = inventory_host(CONTAINER)
    subprocess.run(["docker", "cp", os.path.join(os.path.dirname(os.path.abspath(__file__)), "neighbour_probe.py"),
                    "%s:/root/neighbour_probe.py" % CONTAINER], check=True)
    cfg = json.loads(host.check_output("docker inspect ollama"))[0]
    network = cfg["NetworkSettings"]["Networks"]["llmsec-ollama"]
    args = (cfg["Config"]["Image"], network["IPAddress"], network["Gateway"], CONTAINER, token(subject="neighbour"))
    result = json.loads(host.check_output(
        "docker run --rm -i --network llmsec-ollama -v /etc/llmsec/pki/ca.crt:/ca.crt:ro --entrypoint python3 %s - "
        "%s %s %s %s < /root/neighbour_probe.py" % args))
    assert result["ollama_direct"] != "open" and result["no_token"] == 401, result
    assert result["token"] == 200 and "tiny:1b" in result["models"], result


# --- the audit ----------------------------------------------------------------------------

def run_audit(report_dir):
    subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], os.path.join(ROOT, "playbooks", "audit.yml"),
         "-e", json.dumps({"llmsec_audit_hosts": "ollama_native:ollama_container:unmanaged",
                           "llmsec_audit_report_dir": report_dir})],
        check=True, capture_output=True, text=True, env=os.environ, timeout=600)
    with open(os.path.join(report_dir, "posture.json"), encoding="utf-8") as handle:
        return json.load(handle)


def host_findings(report):
    return {entry["host"]: sorted(item["kind"] for item in entry["findings"]) for entry in report["hosts"]}


def test_audit_flags_the_unhardened_host_only():
    report = run_audit(os.path.join(EPHEMERAL, "audit"))
    findings = host_findings(report)
    # Ollama as its installer leaves it, on the host nothing manages: exposed, unsandboxed, with a store it can
    # rewrite. The hardened hosts are clean because roles fixed these (service_sandbox, container_hardening's
    # read-only mount), not because the stand-in hides them.
    assert {"nonloopback_listener", "unsandboxed_service", "writable_model"} <= set(findings[OPEN]), findings
    assert findings[NATIVE] == [] and findings[CONTAINER] == [], findings
    # Clean is not blind: the scan saw Ollama on both, and their models were checked.
    entries = {entry["host"]: entry for entry in report["hosts"]}
    for server in HARDENED:
        assert {item["kind"] for item in entries[server]["servers"]} == {"ollama"}, entries[server]
        assert entries[server]["models_checked"], entries[server]


def test_site_audits_reported_before_and_after():
    """site.yml's own audits wrote both reports; after hardening the managed hosts are clean."""
    with open(os.path.join(EPHEMERAL, "site-audit", "after", "posture.json"), encoding="utf-8") as handle:
        after = json.load(handle)
    assert host_findings(after) == {NATIVE: [], CONTAINER: []}
    assert os.path.isfile(os.path.join(EPHEMERAL, "site-audit", "before", "posture.md"))


# --- the server's own privileges ---------------------------------------------------------------

def test_native_ollama_runs_in_its_sandbox():
    """site.yml's service_sandbox on the native shape: what the kernel says of the running server."""
    status = unit_status(inventory_host(NATIVE), "ollama")
    assert (status["NoNewPrivs"], status["Seccomp"], int(status["CapEff"], 16)) == ("1", "2", 0), status
    assert status["Uid"].split()[0] != "0"


# --- model integrity ----------------------------------------------------------------------

@pytest.mark.parametrize("server", HARDENED)
def test_model_integrity_passes_then_fails_after_a_byte_flip(server):
    host = inventory_host(server)
    check = "systemctl start llmsec-model-integrity.service"
    assert host.run(check).rc == 0
    # One byte in the middle, same size and mtime kept: only the digest can tell.
    with flipped_blob(host, STORE[server]):
        failed = host.run(check)
        assert failed.rc != 0
        # In the shipped namespace (audit_forwarding) - and in any other.
        journal = host.check_output("journalctl --namespace='*' -u llmsec-model-integrity.service --no-pager -n 30 -o cat")
        assert '"status": "fail"' in journal and "mismatched" in journal, journal
    assert host.run("systemctl reset-failed llmsec-model-integrity.service; " + check).rc == 0


# --- prompts stay out of the logs -------------------------------------------------------------

@pytest.mark.parametrize("server", HARDENED)
def test_prompt_text_is_nowhere_in_the_logs(attacker, server):
    marker = "QUARTZ-PELICAN-%d" % int(time.time())
    prompt = "Summarise the acquisition plan %s for the board" % marker
    status, _h, _body = call(attacker, server, "/api/generate", token(subject="secretive"),
                             {"model": "tiny:1b", "prompt": prompt, "stream": False})
    assert status == 200
    host = inventory_host(server)
    digest = hmac.new(AUDIT_KEY, prompt.encode(), hashlib.sha256).hexdigest()
    # The request is on record, as an HMAC.
    assert host.run("grep -q %s %s" % (digest, AUDIT_LOG)).rc == 0
    # The text: in no log file (nginx, gateway, syslog), no journal entry, no container log.
    places = ["grep -rqaF %s /var/log" % marker,
              "journalctl --no-pager -o cat | grep -qaF %s" % marker,
              "test -d /var/lib/docker/containers && grep -rqaF %s /var/lib/docker/containers" % marker]
    for command in places:
        assert host.run(command).rc != 0, command


# --- model change windows (last: they change the stores and the locks) -----------------------------------------

WINDOW = "/var/lib/llmsec/change-window.json"
NEW_MODEL = "fresh:1b"


def admin_credentials(subject="ops-alice", **claims):
    """The operator's own model administrator token, as the change's credentials (the audit names this subject)."""
    return {"bearer": token("model_admin", subject, ttl=900, **claims)}


def change(stage, limit, pull, credentials, *args, **extra):
    return run_playbook("model_change", limit, dict({
        "llmsec_model_change_id": "CHG-%s-%d" % (stage, int(time.time())), "llmsec_model_change_stage": stage,
        "llmsec_model_change_pull": pull, "llmsec_model_change_credentials": credentials,
        "llmsec_model_change_lock_dest": os.path.join(EPHEMERAL, "change", "models.lock.yml"),
        "llmsec_model_change_hosts": "ollama_native:ollama_container"}, **extra), args)


def store_is_read_only(server):
    """What Ollama itself meets when it writes its store: a pull by its own CLI, as the service's user on the
    native host (one the firewall lets reach Ollama) and inside the container on the other."""
    command = ("runuser -u ollama -- /usr/local/bin/ollama pull rogue:1b" if server == NATIVE
               else "docker exec ollama ollama pull rogue:1b")
    result = inventory_host(server).run(command)
    return result.rc != 0 and "read-only file system" in result.stderr


def window_closed(server):
    host = inventory_host(server)
    return not host.file(WINDOW).exists and store_is_read_only(server)


def output(result):
    """What the run printed (Ansible 2.19 prints a failed task's error on stderr)."""
    return result.stdout + result.stderr


@pytest.mark.parametrize("server", HARDENED)
def test_outside_a_window_nobody_changes_the_store(attacker, server):
    """A model administrator through the front door (403 change_window), Ollama's own CLI beside it (its
    read-only-store error), and on the native host any other local user (the firewall's loopback control drops
    it before Ollama sees it)."""
    status, _h, body = call(attacker, server, "/api/pull", token("model_admin", "admin-outside"), {"model": NEW_MODEL})
    assert status == 403 and "change window" in body
    assert store_is_read_only(server)
    host = inventory_host(server)
    if server == NATIVE:
        local = host.run("runuser -u nobody -- curl -s -m 5 http://127.0.0.1:11434/api/pull -d '{\"model\": \"x:1\"}'")
        assert local.rc != 0 and "success" not in local.stdout
    assert not host.file("%s/manifests/registry.ollama.ai/library/%s" % (STORE[server], NEW_MODEL.replace(":", "/"))
                         ).exists


def test_bad_change_input_is_refused_before_the_window_opens():
    before = inventory_host(NATIVE).check_output("systemctl show -p ReadOnlyPaths --value ollama")
    result = change("propose", "%s,%s" % (NATIVE, CONTAINER), ["evil.example.com/x/y:1"], {"bearer": ""},
                    llmsec_model_change_minutes=0)
    assert result.returncode != 0
    for message in ("llmsec_model_change_minutes must be a whole number",
                    "llmsec_model_change_pull[0] (evil.example.com/x/y:1) is from evil.example.com",
                    "llmsec_model_change_stage propose runs on one reference host; the play has 2",
                    "llmsec_model_change_credentials must be one of"):
        assert message in output(result), output(result)[-4000:]
    # apply: the lock in force does not have the model yet.
    result = change("apply", NATIVE, [NEW_MODEL], admin_credentials())
    assert result.returncode != 0 and "fresh:1b is not in the lock" in output(result), output(result)[-4000:]
    assert inventory_host(NATIVE).check_output("systemctl show -p ReadOnlyPaths --value ollama") == before
    assert not inventory_host(NATIVE).file(WINDOW).exists


def test_check_mode_changes_nothing():
    result = change("propose", NATIVE, [NEW_MODEL], admin_credentials(), "--check")
    assert result.returncode == 0, output(result)[-4000:]
    assert "would open a window for 60 minutes" in result.stdout and "pull fresh:1b" in result.stdout, result.stdout
    assert window_closed(NATIVE)


@pytest.fixture(scope="module")
def proposal():
    """Stage propose on the native host (the reference): pulled through its front door in a window, every blob
    hashed, the lock brought to the controller, the pulled model removed again, the window closed."""
    result = change("propose", NATIVE, [NEW_MODEL], admin_credentials())
    assert result.returncode == 0, output(result)[-4000:]
    with open(os.path.join(EPHEMERAL, "change", "models.lock.yml"), encoding="utf-8") as handle:
        return handle.read()


def test_a_proposal_hashes_what_it_pulled_and_leaves_the_store_as_it_was(proposal):
    models = json.loads("".join(line for line in proposal.splitlines(True) if not line.startswith("#")))["models"]
    assert sorted(models) == ["fresh:1b", "tiny:1b"]
    host = inventory_host(NATIVE)
    assert not host.file("%s/manifests/registry.ollama.ai/library/fresh/1b" % STORE[NATIVE]).exists
    assert window_closed(NATIVE)
    # Through the front door, under the operator's name: the pull and the removal are on the audit record.
    records = [json.loads(line) for line in host.check_output("grep -F '\"ops-alice\"' %s" % AUDIT_LOG).splitlines()]
    assert [(r["endpoint"], r["status"]) for r in records if r["endpoint"] in ("/api/pull", "/api/delete")] == [
        ("/api/pull", 200), ("/api/delete", 200)], records


def test_a_signed_change_is_applied_on_both_shapes_and_verified(proposal):
    keys = approver_keys("alice", "bob")
    result = change("apply", "%s,%s" % (NATIVE, CONTAINER), [NEW_MODEL], admin_credentials(),
                    model_integrity_lock_content=proposal,
                    model_integrity_lock_signatures=sign_lock(keys, proposal, "alice", "bob"),
                    model_integrity_allowed_signers=allowed_signers(keys, "alice", "bob"),
                    model_integrity_required_signatures=2)
    assert result.returncode == 0, output(result)[-4000:]
    assert "approved by alice@example.com, bob@example.com." in result.stdout, output(result)[-4000:]
    for server in HARDENED:
        host = inventory_host(server)
        assert host.file("%s/manifests/registry.ollama.ai/library/fresh/1b" % STORE[server]).exists
        assert host.file("/var/lib/llmsec/models.lock.verified.yml").content_string == proposal
        assert window_closed(server)
        assert host.run("systemctl start llmsec-model-integrity.service").rc == 0


def test_a_failed_pull_closes_the_window(proposal):
    """A token limited to other models: the gateway refuses the pull inside the window, the run fails naming it,
    and the window is closed all the same."""
    result = change("apply", NATIVE, [NEW_MODEL], admin_credentials("ops-bob", models=["tiny:*"]))
    assert result.returncode != 0
    assert "fresh:1b: HTTP 403: model fresh:1b is not allowed for this token" in output(result), output(result)[-4000:]
    assert window_closed(NATIVE)


def test_a_byte_flipped_in_the_window_is_caught_before_it_closes(proposal):
    """A blob changed while the store is writable (flipped just before the window opens, so that it is there
    whatever the timing): the check inside the window fails naming the blob, and the window still closes. On the
    native host: the container shape's window is the signed apply above (a window there recreates the container
    twice, about a minute)."""
    host = inventory_host(NATIVE)
    blob = host.check_output("ls -S %s/blobs/sha256-* | head -1" % STORE[NATIVE])
    host.check_output("cp -p %s /root/flip-backup" % blob)
    try:
        host.check_output("python3 -c \"import sys; f=open(sys.argv[1],'r+b'); f.seek(100); b=f.read(1); "
                          "f.seek(100); f.write(bytes([b[0]^1])); f.close()\" %s" % blob)
        result = change("apply", NATIVE, [NEW_MODEL], admin_credentials())
        assert result.returncode != 0
        assert "%s does not match its digest" % blob in output(result), output(result)[-4000:]
        assert window_closed(NATIVE)
    finally:
        host.check_output("cp -p /root/flip-backup %s && rm -f /root/flip-backup" % blob)


def test_a_window_left_open_is_reported_and_site_closes_it():
    """A host lost mid-change: the window file is still there and the store writable. The audit reports both
    (and the monitoring scan's metric fires LlmsecModelChangeWindowLeftOpen, promtool-tested);
    site.yml (its service_sandbox and model_integrity parts) makes the store read-only and removes the file."""
    host = inventory_host(NATIVE)
    open_change_window(host, minutes=60, change="CHG-lost", opened=int(time.time()) - 7200)
    result = run_role(host, {"service_sandbox_maintenance": True}, role="llmsec.hardening.service_sandbox")
    assert result.returncode == 0, output(result)[-4000:]
    findings = local_ai_findings(host)
    assert {"change_window_left_open", "writable_model"} <= set(findings), findings
    assert findings["change_window_left_open"][0]["expired"], findings
    assert "CHG-lost" in findings["change_window_left_open"][0]["message"]
    result = run_playbook("site", NATIVE, {"llmsec_site_audit": False, "llmsec_target_hosts": "ollama_native"},
                          ("--tags", "service_sandbox,model_integrity"))
    assert result.returncode == 0, output(result)[-4000:]
    assert window_closed(NATIVE)
    assert local_ai_findings(host) == {}
