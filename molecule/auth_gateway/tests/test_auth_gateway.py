"""Verify auth_gateway behind nginx_tls_proxy's jwt mode, from a client container over TLS."""

import base64
import hashlib
import hmac
import json
import os
import re
import shlex
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from scenario_helpers import (AUD, ISS, JWT_DIR, PKI, Refusals, assert_streamed, call, close_change_window,
                              copy_stream_probe, install_ca_certificates, inventory_host, open_change_window, probe,
                              token, wait_for)
from scenario_helpers import read_secret as read

GW12, GW13, CLIENT = "llmsec-gw12", "llmsec-gw13", "llmsec-gw-client"
PROMPT = "Summarise the merger plan codenamed LAVENDER-HARBOUR-7731"
GENERATE = {"model": "tiny:1b", "prompt": "Why is the sky blue?"}
AUDIT_LOG = "/var/log/llmsec-gateway/audit.log"
SOCKET = "/run/llmsec-gateway/api.sock"
EXECUTED = "/usr/share/ollama/executed.jsonl"  # what the stand-in carried out, read as Ollama reads requests
RUN = str(int(time.time()))  # the limits are per subject and outlive a verify run


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_hs256_with_public_key():
    """Algorithm confusion: HS256 keyed with the gateway's EdDSA public key, naming that key."""
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ed-2026"}).encode())
    payload = b64(json.dumps({"iss": ISS, "sub": "mallory", "aud": AUD, "iat": now, "exp": now + 300,
                              "role": "model_admin"}).encode())
    signature = hmac.new(read("ed.pub"), ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (header, payload, b64(signature))


def alg_none():
    now = int(time.time())
    return "%s.%s." % (b64(json.dumps({"alg": "none", "kid": "ed-2026"}).encode()),
                       b64(json.dumps({"iss": ISS, "sub": "mallory", "aud": AUD, "iat": now, "exp": now + 300,
                                       "role": "model_admin"}).encode()))


@pytest.fixture(scope="module")
def client():
    install_ca_certificates(CLIENT, (GW12, GW13))
    copy_stream_probe(CLIENT)
    copy_stream_probe(CLIENT, "burst_probe.py")
    return inventory_host(CLIENT)


@pytest.fixture(scope="module", autouse=True)
def change_window():
    """The model routes (pull, create, blobs...) pass only inside a model change window: these tests run inside
    one, as playbooks/model_change.yml would open it; test_model_routes_are_shut_outside_a_window closes it."""
    for server in (GW12, GW13):
        open_change_window(inventory_host(server))
    yield
    for server in (GW12, GW13):
        close_change_window(inventory_host(server))


def metrics(server):
    return inventory_host(server).check_output("curl -s http://127.0.0.1:9470/metrics")


# --- the service -------------------------------------------------------------------

@pytest.mark.parametrize("server", [GW12, GW13])
def test_service_runs_sandboxed_on_loopback(server):
    host = inventory_host(server)
    props = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show llmsec-gateway -p ActiveState -p User -p NoNewPrivileges -p CapabilityBoundingSet "
        "-p ProtectSystem -p PrivateTmp -p MemoryDenyWriteExecute -p RestrictAddressFamilies -p MainPID "
        "-p SystemCallFilter -p MemoryMax -p TasksMax").splitlines())
    assert props["MemoryMax"] == str(512 * 1024 * 1024) and props["TasksMax"] == "64"
    assert props["ActiveState"] == "active"
    assert props["User"] == "llmsec-gateway"
    assert props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict"
    assert props["PrivateTmp"] == "yes" and props["MemoryDenyWriteExecute"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    assert set(props["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "execve" in props["SystemCallFilter"] and "mount" not in props["SystemCallFilter"].split()
    status = host.check_output("cat /proc/%s/status" % props["MainPID"])
    assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status
    # The API on a Unix socket only nginx's user may open; metrics alone on loopback TCP.
    # The gateway's TCP listeners: ss -e names each socket's cgroup, which is the unit's.
    listeners = host.check_output("ss -Hltne")
    gateway_tcp = [line for line in listeners.splitlines()
                   if re.search(r"cgroup:\S*/llmsec-gateway\.service(\s|$)", line)]
    assert len(gateway_tcp) == 1 and "127.0.0.1:9470" in gateway_tcp[0], listeners
    sock = host.file(SOCKET)
    assert sock.is_socket and (sock.user, sock.group, sock.mode) == ("www-data", "www-data", 0o600)


def test_gateway_port_is_closed_to_the_network(client):
    assert client.run("curl -s --max-time 5 http://%s:11435/api/tags" % GW12).rc != 0
    assert client.run("curl -s --max-time 5 http://%s:9470/metrics" % GW12).rc != 0


def test_no_local_process_but_nginx_reaches_the_gateway():
    """Local users cannot open the socket, so they can neither skip nginx nor forge the client address."""
    host = inventory_host(GW12)
    host.check_output("id mallory >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin mallory")
    curl = ("curl -s -o /dev/null -w '%%{http_code}' --max-time 5 --unix-socket %s "
            "-H 'X-Forwarded-For: 203.0.113.9' http://localhost/api/tags" % SOCKET)
    refused = host.run("runuser -u mallory -- " + curl)
    assert refused.rc == 7 and refused.stdout in ("", "000"), refused  # connect() denied
    # nginx's user gets the gateway's own answer: the socket works, and it is the only way in.
    assert host.check_output("runuser -u www-data -- " + curl) == "401"
    assert host.run("curl -s --max-time 5 http://127.0.0.1:11435/api/tags").rc != 0


# --- authentication ------------------------------------------------------------------

@pytest.mark.parametrize("server", [GW12, GW13])
def test_no_token_gets_401(client, server):
    status, headers, _body = call(client, server, "/api/tags")
    assert status == 401 and "www-authenticate: bearer" in headers


@pytest.mark.parametrize("make, reason", [
    (lambda: token(key=Ed25519PrivateKey.generate(), alg="EdDSA"), "bad_signature"),
    (alg_none, "algorithm"),
    (forge_hs256_with_public_key, "algorithm"),
    (lambda: token(iat=int(time.time()) - 900, exp=int(time.time()) - 300), "expired"),
    (lambda: token(nbf=int(time.time()) + 600), "not_yet_valid"),
    (lambda: token(aud="another-service"), "audience"),
    (lambda: token(iss="https://evil.example"), "issuer"),
    (lambda: token(ttl=3600), "lifetime"),
    (lambda: token(kid="retired-2025", key=read("ed.key"), alg="EdDSA"), "unknown_kid"),
])
def test_bad_tokens_get_401(client, make, reason):
    before = metrics(GW12)
    status, _headers, body = call(client, GW12, "/api/generate", make(), GENERATE)
    assert status == 401, body
    line = 'llmsec_gateway_auth_failures_total{reason="%s"}' % reason
    after = metrics(GW12)
    assert line in after

    def count(text):
        return float(next((l.split()[-1] for l in text.splitlines() if l.startswith(line)), 0))
    assert count(after) == count(before) + 1


@pytest.mark.parametrize("kid", ["es-2026", "hs-legacy"])
def test_every_configured_key_works(client, kid):
    assert call(client, GW12, "/api/tags", token(kid=kid, subject="keys-" + kid))[0] == 200


# --- roles ----------------------------------------------------------------------------

def test_consumer_is_refused_pull(client):
    status, _h, body = call(client, GW12, "/api/pull", token(subject="consumer-pull"), {"model": "tiny:2b"})
    assert status == 403 and "may not use /api/pull" in body


def test_auditor_is_refused_inference(client):
    assert call(client, GW12, "/api/generate", token("auditor", "auditor-gen"), GENERATE)[0] == 403


def test_admin_pulls_only_from_allowed_registries(client):
    admin = token("model_admin", "admin-pull")
    status, _h, body = call(client, GW12, "/api/pull", admin, {"model": "evil.example.com/x/tiny:1b", "stream": False})
    assert status == 403 and "registry" in body
    status, _h, body = call(client, GW12, "/api/pull", admin, {"model": "tiny:2b", "stream": False})
    assert status == 200 and "success" in body


def test_model_routes_are_shut_outside_a_window(client):
    """No window, a window past its deadline, a window file that someone other than root could have written: the
    administrator's pull is refused (403 change_window) and the stand-in carries nothing out."""
    admin = token("model_admin", "admin-window")
    host = inventory_host(GW12)
    try:
        close_change_window(host)
        assert "change window" in refused_and_not_run(client, "/api/pull", admin, {"model": "tiny:3b"}, (403,))
        open_change_window(host, minutes=5, opened=int(time.time()) - 600)
        assert "change window" in refused_and_not_run(client, "/api/pull", admin, {"model": "tiny:3b"}, (403,))
        open_change_window(host)
        host.run_test("chmod 0666 /var/lib/llmsec/change-window.json")
        assert "change window" in refused_and_not_run(client, "/api/delete", admin, {"model": "tiny:1b"}, (403,),
                                                      "-X", "DELETE")
    finally:
        open_change_window(host)
    assert [record["reason"] for record in audit_records("admin-window")] == ["change_window"] * 3
    status, _h, body = call(client, GW12, "/api/pull", admin, {"model": "tiny:2b", "stream": False})
    assert status == 200 and "success" in body


def test_token_model_allowlist(client):
    only_other = token(subject="allowlist", models=["other:*"])
    assert call(client, GW12, "/api/generate", only_other, dict(GENERATE, stream=False))[0] == 403


def test_unknown_routes_are_404_even_for_admins(client):
    assert call(client, GW12, "/api/me", token("model_admin", "admin-me"), {}, "POST")[0] == 404


# --- streaming, limits ------------------------------------------------------------------

@pytest.mark.parametrize("server", [GW12, GW13])
def test_consumer_streams_chunk_by_chunk(client, server):
    assert_streamed(probe(client, "stream_probe.py", "https://%s/api/generate" % server,
                          "--cafile", "%s/%s/ca.crt" % (PKI, server), "--bearer", token(subject="stream-" + server),
                          "--body", json.dumps(GENERATE)))


def test_openai_sse_streams(client):
    body = json.dumps({"model": "tiny:1b", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert_streamed(probe(client, "stream_probe.py", "https://%s/v1/chat/completions" % GW12,
                          "--cafile", "%s/%s/ca.crt" % (PKI, GW12), "--bearer", token(subject="sse"), "--body", body))


def test_request_burst_gets_429(client):
    """24 requests back to back on one connection from one process on the client: the test's own speed does not
    refill the bucket, and nginx's per-address connection limit (which answers 429 itself) is not what is tested."""
    bearer = token(subject="burst-" + RUN)
    results = burst(client, [{"path": "/api/tags", "bearer": bearer, "method": "GET"}] * 24, "--sequential")
    codes = sorted(result["status"] for result in results)
    # 20 per minute: at most a request or two more come back as the bucket refills during the burst.
    assert 20 <= codes.count(200) <= 22 and codes.count(429) == 24 - codes.count(200), codes
    refused = [result for result in results if result["status"] == 429]
    assert all("retry-after" in r["headers"] and "rate limit: requests" in r["body"] for r in refused), refused
    # another subject is not affected
    assert call(client, GW12, "/api/tags", token(subject="not-burst"))[0] == 200


def test_exhausted_token_budget_gets_429(client):
    bearer = token(subject="budget-" + RUN)
    codes = []
    for _attempt in range(12):
        status, headers, body = call(client, GW12, "/api/generate", bearer, dict(GENERATE, stream=False))
        codes.append(status)
        if status == 429:
            break
    assert codes[-1] == 429 and 200 in codes, codes
    assert "rate limit: tokens" in body
    retry = int(headers.split("retry-after:")[1].split()[0])
    assert retry > 60  # a 60-token hourly budget refills slowly


# --- audit ---------------------------------------------------------------------------------

def test_prompt_is_audited_as_hmac_only(client):
    host = inventory_host(GW12)
    status, _h, _body = call(client, GW12, "/api/generate", token(subject="audited"),
                             {"model": "tiny:1b", "prompt": PROMPT, "stream": False})
    assert status == 200
    digest = hmac.new(read("audit.key").strip(), PROMPT.encode(), hashlib.sha256).hexdigest()
    assert host.run("grep -q %s %s" % (digest, AUDIT_LOG)).rc == 0
    record = json.loads(host.check_output("grep %s %s | tail -1" % (digest, AUDIT_LOG)))
    assert record["subject"] == "audited" and record["role"] == "inference_consumer"
    assert record["status"] == 200 and record["tokens"]["completion"] > 0 and record["response_hmac"]
    assert record["models"] == ["tiny:1b"] and record["latency_ms"] > 0
    # The text itself: in no file under /var/log, in no journal entry.
    assert host.run("grep -rqF LAVENDER-HARBOUR /var/log").rc == 1
    assert host.run("journalctl --no-pager -o cat | grep -qF LAVENDER-HARBOUR").rc == 1
    log = host.file(AUDIT_LOG)
    assert (log.user, log.group, log.mode) == ("llmsec-gateway", "llmsec-audit", 0o640)


def test_auditor_proves_a_prompt_was_sent(client):
    call(client, GW12, "/api/generate", token(subject="suspect"), {"model": "tiny:1b", "prompt": PROMPT + "!",
                                                                   "stream": False})
    auditor = token("auditor", "auditor-carol")
    status, _h, body = call(client, GW12, "/llmsec/audit/verify", auditor, {"text": PROMPT + "!"})
    answer = json.loads(body)
    assert status == 200 and answer["sent"] is True
    assert any(record["subject"] == "suspect" for record in answer["records"])
    _s, _h, body = call(client, GW12, "/llmsec/audit/verify", auditor, {"text": "never sent"})
    assert json.loads(body)["sent"] is False
    assert call(client, GW12, "/llmsec/audit/verify", token(subject="nosy"), {"text": PROMPT})[0] == 403
    status, _h, body = call(client, GW12, "/llmsec/metrics", auditor)
    assert status == 200 and "llmsec_gateway_requests_total" in body


def test_metrics_count_it_all(client):
    text = metrics(GW12)
    for needle in ['llmsec_gateway_requests_total{endpoint="/api/generate",role="inference_consumer",status="200"}',
                   'llmsec_gateway_requests_total{endpoint="/api/pull",role="inference_consumer",status="403"}',
                   'llmsec_gateway_auth_failures_total{reason="missing"}',
                   'llmsec_gateway_rate_limited_total{limit="requests"}',
                   'llmsec_gateway_rate_limited_total{limit="tokens"}',
                   'llmsec_gateway_llm_tokens_total{kind="completion",role="inference_consumer"}',
                   'llmsec_gateway_request_duration_seconds_bucket{endpoint="/api/generate",le="+Inf"}',
                   'llmsec_gateway_in_flight_requests']:
        assert needle in text, needle


def test_logrotate_reopens_the_audit_log(client):
    host = inventory_host(GW12)
    host.check_output("logrotate -f /etc/logrotate.d/llmsec-gateway")
    assert host.file(AUDIT_LOG + ".1").exists
    call(client, GW12, "/api/tags", token(subject="after-rotate"))
    wait_for(lambda: host.run("grep -q after-rotate %s" % AUDIT_LOG).rc == 0, 10, "a line in the new audit log")
    log = host.file(AUDIT_LOG)
    assert (log.user, log.group, log.mode) == ("llmsec-gateway", "llmsec-audit", 0o640)


# --- failure -------------------------------------------------------------------------------

def test_backend_down_gives_502_and_the_gateway_keeps_serving(client):
    host = inventory_host(GW12)
    host.check_output("systemctl stop ollama")
    try:
        status, _h, body = call(client, GW12, "/api/tags", token(subject="down"))
        assert status == 502 and "unreachable" in body
        assert host.service("llmsec-gateway").is_running
    finally:
        host.check_output("systemctl start ollama")
    wait_for(lambda: call(client, GW12, "/api/tags", token(subject="up-again"))[0] == 200, 30, "Ollama back")


def test_malformed_and_oversize_bodies(client):
    bearer = token(subject="bodies")
    assert call(client, GW12, "/api/generate", bearer, "{not json")[0] == 400
    client.check_output("head -c 2000000 /dev/zero | tr '\\0' a > /tmp/big.json")
    status, _h, body = call(client, GW12, "/api/generate", bearer, "@/tmp/big.json")
    assert status == 413 and "request body over 1048576 bytes" in body  # the gateway's limit, under nginx's


# --- jwt_token and bad input -------------------------------------------------------------------

def test_jwt_token_module_mints_a_working_hidden_token(client, tmp_path):
    playbook = tmp_path / "mint.yml"
    out = tmp_path / "token"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "gather_facts": False, "tasks": [
            {"llmsec.hardening.jwt_token": {
                "subject": "minted", "role": "inference_consumer", "ttl": 300, "algorithm": "ES256",
                "private_key_path": os.path.join(JWT_DIR, "es.key"), "kid": "es-2026",
                "issuer": ISS, "audience": AUD, "models": ["tiny:*"]},
             "register": "minted"},
            {"ansible.builtin.copy": {"content": "{{ minted.token }}", "dest": str(out), "mode": "0600"},
             "no_log": True}]}]))
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-v", str(playbook)],
                            capture_output=True, text=True, env=os.environ, check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    minted = out.read_text()
    assert minted.count(".") == 2 and minted not in result.stdout and "censored" in result.stdout
    assert call(client, GW12, "/api/generate", minted, dict(GENERATE, stream=False))[0] == 200


BAD_INPUT = [
    ({"auth_gateway_jwt_keys": [{"kid": "k", "alg": "none", "public_key": "x"}]}, "auth_gateway_jwt_keys[0].alg"),
    ({"auth_gateway_jwt_keys": [{"kid": "k", "alg": "RS256", "public_key": "{{ lookup('file', '%s') }}"
                                 % os.path.join(JWT_DIR, "ed.pub")}]}, "cannot verify RS256"),
    ({"auth_gateway_jwt_keys": [{"kid": "k", "alg": "EdDSA", "public_key": "{{ lookup('file', '%s') }}"
                                 % os.path.join(JWT_DIR, "ed.key")}]}, "holds a private key"),
    ({"auth_gateway_audit_hmac_key": "short"}, "auth_gateway_audit_hmac_key must be at least 32 bytes"),
    ({"auth_gateway_role_actions": {"auditor": ["inference", "sudo"]}}, "unknown action(s) sudo"),
    ({"auth_gateway_socket": "api.sock"}, "auth_gateway_socket must be an absolute path"),
    ({"auth_gateway_create_targets": {"root": ["x:*"]}}, "auth_gateway_create_targets: unknown role 'root'"),
    ({"auth_gateway_max_concurrent_per_subject": 9}, "auth_gateway_max_concurrent_per_subject must be between"),
    ({"auth_gateway_guard_model": "missing-guard:1b"},
     "auth_gateway_guard_model: the guard model missing-guard:1b is not on this host's Ollama"),
    ({"auth_gateway_guard_block_categories": ["S99"]},
     "auth_gateway_guard_block_categories must be Llama Guard 3 codes"),
    ({"auth_gateway_guard_role_overrides": {"red_team": "flag"}}, "auth_gateway_guard_role_overrides"),
]


@pytest.fixture(scope="module")
def bad_input():
    """Every refusal case in one Ansible run on the Debian 13 gateway, with its files around it."""
    host = inventory_host(GW13)
    files = "sha256sum /etc/llmsec/gateway/config.json /etc/systemd/system/llmsec-gateway.service"
    return host, Refusals(host, BAD_INPUT, lambda: host.check_output(files))


@pytest.mark.parametrize("extra, message", BAD_INPUT)
def test_bad_input_is_refused_before_the_host_changes(bad_input, extra, message):
    host, runs = bad_input
    runs.check(extra, message)
    assert host.service("llmsec-gateway").is_running


# --- the review's findings, each tried through nginx; what the stand-in executed is the proof -------

def executed(since):
    """The requests the stand-in carried out (as Ollama reads them) after line `since` of its record."""
    lines = inventory_host(GW12).check_output("cat %s 2>/dev/null || true" % EXECUTED).splitlines()
    return [json.loads(line) for line in lines[since:]]


def executed_count():
    return int(inventory_host(GW12).check_output("cat %s 2>/dev/null | wc -l" % EXECUTED))


def audit_records(needle):
    out = inventory_host(GW12).check_output("grep -F -- %s %s || true" % (json.dumps(needle), AUDIT_LOG))
    return [json.loads(line) for line in out.splitlines()]


TINY_ONLY = {"models": ["tiny:*"]}


def refused_and_not_run(client, path, bearer, body, statuses, *extra):
    """The gateway answers one of `statuses`, and the stand-in carried nothing out. Returns the answer."""
    before = executed_count()
    status, _h, answer = call(client, GW12, path, bearer, body, None, *extra)
    assert status in statuses, (status, answer)
    assert executed(before) == []
    return answer


@pytest.mark.parametrize("path, raw", [
    ("/api/generate", '{"model":"tiny:1b","Model":"secret-model","prompt":"x","stream":false}'),
    ("/api/generate", '{"model":"tiny:1b","MODEL":"secret-model","prompt":"x","stream":false}'),
    ("/api/generate", r'{"model":"tiny:1b","mod\u0065l":"secret-model","prompt":"x","stream":false}'),
    ("/v1/chat/completions", '{"model":"tiny:1b","Model":"secret-model","messages":[{"role":"user","content":"x"}]}'),
    ("/api/embed", '{"model":"tiny:1b","mOdEl":"secret-model","input":"x"}'),
    ("/api/chat", '{"model":"tiny:1b","messages":[{"role":"user","content":"x"}],"\u017ftream":false,'
                  '"Model":"secret-model"}'),
])
def test_h1_a_second_spelling_of_model_is_refused_and_nothing_runs(client, path, raw):
    body = refused_and_not_run(client, path, token(subject="h1", **TINY_ONLY), raw, (400,))
    assert "spells the field" in body or "given twice" in body, body
    # The plain request with the same token works: the refusal is the spelling, not the token.
    assert call(client, GW12, "/api/generate", token(subject="h1-plain", **TINY_ONLY),
                {"model": "secret-model", "prompt": "x", "stream": False})[0] == 403


def test_h1_audit_decoy_is_refused(client):
    """Before: the decoy's HMAC was audited and the real prompt reached Ollama unrecorded."""
    before = executed_count()
    raw = json.dumps({"model": "tiny:1b", "prompt": "what is the weather", "stream": False})[:-1] + \
        ',"PROMPT":"exfiltrate the customer list ' + RUN + '"}'
    status, _h, body = call(client, GW12, "/api/generate", token(subject="h1-audit"), raw)
    assert status == 400, body
    assert not any("exfiltrate" in " ".join(entry["prompts"]) for entry in executed(before))
    # A clean request is executed with exactly the prompt whose HMAC the audit holds.
    prompt = "the real prompt " + RUN
    assert call(client, GW12, "/api/generate", token(subject="h1-audit"),
                {"model": "tiny:1b", "prompt": prompt, "stream": False})[0] == 200
    ran = [entry for entry in executed(before) if entry["route"] == "/api/generate"]
    assert ran[-1]["prompts"] == [prompt] and ran[-1]["model"] == "tiny:1b"
    digest = hmac.new(read("audit.key").strip(), prompt.encode(), hashlib.sha256).hexdigest()
    assert audit_records(digest)[-1]["prompt_hmacs"] == [digest]


@pytest.mark.parametrize("raw, why", [
    ('{"model":"custom/x","from":"tiny:1b","From":"secret-model"}', "given twice"),
    ('{"model":"custom/x","From":"secret-model"}', "spells the field"),
    ('{"model":"custom/x","from":"tiny:1b","Files":{"a.gguf":"sha256:%s"}}' % ("0" * 64), "spells the field"),
    ('{"model":"custom/x","from":"tiny:1b","ADAPTERS":{"a.gguf":"sha256:%s"}}' % ("0" * 64), "spells the field"),
])
def test_h1_prompt_engineer_create_spellings(client, raw, why):
    assert why in refused_and_not_run(client, "/api/create", token("prompt_engineer", "h1-create"), raw, (400,))


def test_h1_admin_pull_registry_spelling(client):
    raw = '{"model":"tiny:1b","Model":"evil.example.com/x/y","stream":false}'
    refused_and_not_run(client, "/api/pull", token("model_admin", "h1-pull"), raw, (400,))


@pytest.mark.parametrize("path", [
    "/api/blobs/../generate", "/api/blobs/%2e%2e/chat", "/api/blobs/%2E%2E/generate", "/api/blobs/../me",
    "/api/blobs/../experimental/web_fetch", "/v1/models/../x", "/api/blobs/..%2fgenerate",
])
def test_h2_dot_segments_are_refused(client, path):
    refused_and_not_run(client, path, token("model_admin", "h2"), {"model": "tiny:1b", "prompt": "x", "stream": False},
                        (400, 404), "--path-as-is")
    assert not any(record.get("endpoint") == "/api/blobs/*" and record.get("status") == 200
                   for record in audit_records('"subject":"h2"'))


def test_h2_a_real_blob_upload_still_works(client):
    data = b"llmsec blob " + RUN.encode()
    digest = hashlib.sha256(data).hexdigest()
    client.check_output("printf %%s %s > /tmp/blob" % shlex.quote(data.decode()))
    status, _h, body = call(client, GW12, "/api/blobs/sha256:" + digest, token("model_admin", "blob"),
                            "@/tmp/blob")
    assert status == 201, body
    assert inventory_host(GW12).file("/usr/share/ollama/.ollama/models/blobs/sha256-" + digest).exists


# --- create is scoped -----------------------------------------------------------------------------

@pytest.mark.parametrize("body, reason", [
    ({"model": "tiny:1b", "from": "tiny:1b", "system": "Everyone gets this"}, "may not create"),
    ({"model": "custom/base:v1", "from": "tiny:1b", "system": "Everyone gets this"}, "is a base model"),
    ({"model": "secret-model", "from": "tiny:1b", "system": "x"}, "may not create"),
    ({"model": "custom/pirate", "from": "tiny:1b", "remote_host": "http://203.0.113.7:11434"}, "remote_host"),
])
def test_create_cannot_overwrite_what_others_use(client, body, reason):
    assert reason in refused_and_not_run(client, "/api/create", token("prompt_engineer", "pe"), body, (403,))


def test_create_into_the_targets_works(client):
    before = executed_count()
    status, _h, body = call(client, GW12, "/api/create", token("prompt_engineer", "pe-ok"),
                            {"model": "custom/pirate", "from": "tiny:1b", "system": "Arr", "stream": False})
    assert status == 200, body
    assert [(e["model"], e["from"]) for e in executed(before)] == [("custom/pirate", "tiny:1b")]


# --- budget and fairness --------------------------------------------------------------------------

def burst(client, requests, *flags):
    return probe(client, "burst_probe.py", "https://%s" % GW12, "--cafile", "%s/%s/ca.crt" % (PKI, GW12),
                 "--requests", json.dumps(requests), *flags)


def test_concurrent_streams_cannot_overspend_the_budget(client):
    """Before: 4 concurrent streams spent 200 tokens of a 100-token budget."""
    subject = "overspend-" + RUN
    bearer = token(subject=subject)
    results = burst(client, [{"path": "/api/generate", "bearer": bearer, "body": GENERATE}] * 8)
    statuses = [result["status"] for result in results]
    assert 200 in statuses and 429 in statuses, statuses
    spent = [r["tokens"]["prompt"] + r["tokens"]["completion"]
             for r in audit_records('"subject":"%s"' % subject) if r["status"] == 200]
    # 60 tokens an hour: what was spent exceeds it by one request's cost at most.
    assert sum(spent) <= 60 + max(spent), spent


def test_one_subject_cannot_take_every_slot(client):
    """4 slots, at most 2 per subject: a second subject runs at once while the first one's queue waits."""
    hog = token(subject="hog-" + RUN)
    other = token(subject="other-" + RUN)
    small = dict(GENERATE, options={"num_predict": 1})
    results = burst(client, [{"path": "/api/generate", "bearer": hog, "body": small}] * 4 +
                    [{"path": "/api/generate", "bearer": other, "body": small, "start": 0.3}])
    hogs, late = results[:4], results[4]
    assert all(result["status"] == 200 for result in results), results
    ends = sorted(result["end"] for result in hogs)
    # The hog's third and fourth had to wait for its first two; the other subject did not.
    assert late["end"] < ends[2] and late["end"] < ends[3], results


def test_what_ollama_does_not_count_is_charged_as_estimated(client):
    bearer = token(subject="embeddings-" + RUN)
    status, _h, _b = call(client, GW12, "/api/embeddings", bearer, {"model": "tiny:1b", "prompt": "count me " * 30})
    assert status == 200
    record = audit_records('"subject":"embeddings-%s"' % RUN)[-1]
    assert record["tokens"]["prompt"] >= 30 and record["tokens_estimated"] is True, record


def test_thinking_is_counted(client):
    bearer = token(subject="thinker-" + RUN)
    status, _h, body = call(client, GW12, "/api/generate", bearer, dict(GENERATE, think=True))
    assert status == 200 and '"thinking"' in body
    record = audit_records('"subject":"thinker-%s"' % RUN)[-1]
    assert record["tokens"]["completion"] == 6 + 4, record  # 6 answer and 4 thinking tokens


def test_a_client_that_leaves_is_charged(client):
    bearer = token(subject="leaver-" + RUN)
    client.run("curl -s --max-time 0.8 --cacert %s/%s/ca.crt -H 'Authorization: Bearer %s' "
               "-H 'Content-Type: application/json' -d '%s' https://%s/api/generate"
               % (PKI, GW12, bearer, json.dumps(dict(GENERATE, options={"num_predict": 50})), GW12))
    wait_for(lambda: audit_records('"subject":"leaver-%s"' % RUN), 20, "the audit line of the cut stream")
    record = audit_records('"subject":"leaver-%s"' % RUN)[-1]
    assert record["status"] == 499 and record["tokens"]["completion"] >= 50, record


def test_openai_stream_without_usage_is_charged(client):
    bearer = token(subject="sse-usage-" + RUN)
    body = {"model": "tiny:1b", "stream": True, "messages": [{"role": "user", "content": "hello " * 20}]}
    assert call(client, GW12, "/v1/chat/completions", bearer, body)[0] == 200
    record = audit_records('"subject":"sse-usage-%s"' % RUN)[-1]
    assert record["tokens"]["prompt"] >= 20 and record["tokens"]["completion"] == 6, record


# --- low findings ------------------------------------------------------------------------------------

def test_every_token_failure_gets_the_same_answer(client):
    bodies = set()
    for bearer in (None, "garbage", token(kid="retired-2025", key=read("ed.key"), alg="EdDSA"),
                   token(key=Ed25519PrivateKey.generate(), alg="EdDSA"), token(aud="another-service")):
        status, _h, body = call(client, GW12, "/api/tags", bearer)
        assert status == 401
        bodies.add(body)
    assert bodies == {'{"error": "invalid or missing bearer token"}'}, bodies


@pytest.mark.parametrize("raw", ["[" * 100000, '{"model":"tiny:1b","prompt":"\\ud800","stream":false}',
                                 '{"model":"tiny:1b","prompt":"x"} {"model":"secret-model"}'])
def test_unreadable_bodies_are_400_not_500(client, raw):
    status, _h, body = call(client, GW12, "/api/generate", token(subject="bodies-400"), raw)
    assert status == 400, body


# --- the guard model (auth_gateway_guard_*): the stand-in's Llama Guard, verdicts from markers ----------------

def guard_audit(server, subject):
    """The audit records of one subject on a gateway, oldest first."""
    lines = inventory_host(server).check_output("grep -F '\"subject\":\"%s\"' %s || true" % (subject, AUDIT_LOG))
    return [json.loads(line) for line in lines.splitlines()]


def executed_prompts(server, marker):
    """The worker requests the stand-in carried out whose prompt carries marker (the guard's calls excluded)."""
    lines = inventory_host(server).check_output("grep -F %s %s || true" % (shlex.quote(marker), EXECUTED))
    return [record for record in map(json.loads, lines.splitlines()) if record.get("model") == "tiny:1b"]


@pytest.mark.parametrize("server", [GW12, GW13])
def test_guard_an_unsafe_prompt_is_blocked_with_its_category(client, server):
    subject, marker = "guard-block-" + RUN, "refuse-me-%s-%s" % (server, RUN)
    status, _h, body = call(client, server, "/api/generate", token(subject=subject),
                            {"model": "tiny:1b", "prompt": "%s [standin-guard:unsafe=S1,S10]" % marker,
                             "stream": False})
    assert (status, json.loads(body)) == (403, {"error": "the request was blocked by the guard: S1, S10"})
    assert executed_prompts(server, marker) == []  # the worker model never had it
    record = guard_audit(server, subject)[-1]
    assert record["reason"] == "guard" and "tokens" not in record  # costs the user nothing
    assert [(g["direction"], g["verdict"], g["categories"], g["action"]) for g in record["guard"]] == [
        ("prompt", "unsafe", ["S1", "S10"], "block")]


def test_guard_a_safe_exchange_passes_untouched(client):
    subject = "guard-safe-" + RUN
    status, _h, body = call(client, GW12, "/api/generate", token(subject=subject),
                            {"model": "tiny:1b", "prompt": "Why is the sky blue?", "stream": False})
    assert status == 200 and json.loads(body)["response"] == "This is a stand-in reply from"
    record = guard_audit(GW12, subject)[-1]
    assert record["response_hmac"] == hmac.new(read("audit.key").strip(), b"This is a stand-in reply from",
                                               hashlib.sha256).hexdigest()
    assert [(g["direction"], g["action"]) for g in record["guard"]] == [("prompt", "pass"), ("response", "pass")]


def test_guard_cuts_an_ollama_stream_that_turns_unsafe(client):
    subject = "guard-stream-" + RUN
    status, _h, body = call(client, GW12, "/api/generate", token(subject=subject),
                            {"model": "tiny:1b", "prompt": "Tell me [standin-reply:unsafe=S2]"})
    lines = [json.loads(line) for line in body.splitlines()]
    # Screened every 2 events: "This is" passes, " a" goes out unscreened, the marker completes the window and is
    # withheld; the stream ends with Ollama's error line, never done.
    assert status == 200 and [line.get("response") for line in lines[:-1]] == ["This", " is", " a"]
    assert lines[-1] == {"error": "the answer was blocked by the guard: S2"}
    record = guard_audit(GW12, subject)[-1]
    assert record["guard_cut"] == {"text_chunks_sent": 3} and record["guard"][-1]["direction"] == "response"
    assert record["tokens"]["completion"] > 0  # the worker's tokens are charged


def test_guard_cuts_an_openai_stream_with_an_sse_error_event(client):
    status, _h, body = call(client, GW13, "/v1/chat/completions", token(subject="guard-sse-" + RUN),
                            {"model": "tiny:1b", "stream": True,
                             "messages": [{"role": "user", "content": "Tell me [standin-reply:unsafe=S9]"}]})
    events = [block[len("data: "):] for block in body.strip().split("\n\n")]
    assert status == 200 and "[DONE]" not in events and len(events) == 4
    error = json.loads(events[-1])["error"]
    assert error["message"] == "the answer was blocked by the guard: S9" and error["code"] == "guard_blocked"


@pytest.mark.parametrize("server, status, action", [(GW12, 503, "block"), (GW13, 200, "flag")])
def test_guard_too_slow_follows_the_fail_mode(client, server, status, action):
    subject = "guard-slow-%s-%s" % (server, RUN)
    got, _h, _body = call(client, server, "/api/generate", token(subject=subject),
                          {"model": "tiny:1b", "prompt": "hello [standin-guard:slow]", "stream": False})
    assert got == status
    entry = guard_audit(server, subject)[-1]["guard"][0]
    assert (entry["verdict"], entry["action"], entry["error"]) == ("error", action, "timeout after 3 s")


@pytest.mark.parametrize("role, prompt", [
    ("inference_consumer", "advice [standin-guard:unsafe=S6]"),  # a category that only flags
    ("prompt_engineer", "red team [standin-guard:unsafe=S1]"),  # a role overridden to flag
])
def test_guard_flagged_requests_pass_and_are_audited(client, role, prompt):
    subject = "guard-flag-%s-%s" % (role, RUN)
    status, _h, body = call(client, GW12, "/api/generate", token(role=role, subject=subject),
                            {"model": "tiny:1b", "prompt": prompt, "stream": False})
    assert status == 200 and json.loads(body)["response"]
    entry = guard_audit(GW12, subject)[-1]["guard"][0]
    assert (entry["verdict"], entry["action"]) == ("unsafe", "flag")


def test_guard_metrics_and_no_text_in_any_log(client):
    text = metrics(GW12)
    for needle in ['llmsec_gateway_guard_verdicts_total{action="block",direction="prompt",role="inference_consumer",'
                   'verdict="unsafe"}',
                   'llmsec_gateway_guard_verdicts_total{action="block",direction="response"',
                   'llmsec_gateway_guard_verdicts_total{action="block",direction="prompt",role="inference_consumer",'
                   'verdict="error"}',
                   'llmsec_gateway_guard_unsafe_total{role="inference_consumer",subject="guard-block-%s"}' % RUN,
                   'llmsec_gateway_guard_duration_seconds_bucket{direction="prompt",le="+Inf"}']:
        assert needle in text, needle
    host = inventory_host(GW12)
    for marker in ("standin-guard", "standin-reply", "stand-in reply"):
        assert host.run("grep -rqF %s /var/log" % shlex.quote(marker)).rc == 1, marker
        assert host.run("journalctl --no-pager -o cat | grep -qF %s" % shlex.quote(marker)).rc == 1, marker
