"""Verify auth_gateway behind nginx_tls_proxy's jwt mode, from a client container over TLS."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
from scenario_helpers import (assert_refused, assert_streamed, copy_stream_probe, https, inventory_host,  # noqa: E402
                              probe, run_role, wait_for)

GW12, GW13, CLIENT = "llmsec-gw12", "llmsec-gw13", "llmsec-gw-client"
ROLE = "llmsec.hardening.auth_gateway"
ISS, AUD = "https://auth.llmsec.test", "llmsec-gateway"
EPHEMERAL = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
JWT_DIR = os.path.join(EPHEMERAL, "jwt")
PKI = "/opt/pki"
PROMPT = "Summarise the merger plan codenamed LAVENDER-HARBOUR-7731"
GENERATE = {"model": "tiny:1b", "prompt": "Why is the sky blue?"}
AUDIT_LOG = "/var/log/llmsec-gateway/audit.log"
RUN = str(int(time.time()))  # the limits are per subject and outlive a verify run


def read(name):
    with open(os.path.join(JWT_DIR, name), "rb") as handle:
        return handle.read()


def token(role="inference_consumer", subject="alice", kid="ed-2026", key=None, alg=None, ttl=600, **changes):
    now = int(time.time())
    claims = {"iss": ISS, "sub": subject, "aud": AUD, "iat": now, "nbf": now, "exp": now + ttl,
              "jti": "t%d" % now, "role": role}
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    if key is None:
        key, alg = {"ed-2026": (read("ed.key"), "EdDSA"), "es-2026": (read("es.key"), "ES256"),
                    "hs-legacy": (read("hs.secret").strip(), "HS256")}[kid]
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


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
    for server in (GW12, GW13):
        subprocess.run(["docker", "exec", CLIENT, "mkdir", "-p", "%s/%s" % (PKI, server)], check=True)
        subprocess.run(["docker", "cp", os.path.join(EPHEMERAL, "pki", server, "ca.crt"),
                        "%s:%s/%s/ca.crt" % (CLIENT, PKI, server)], check=True)
    copy_stream_probe(CLIENT)
    return inventory_host(CLIENT)


def call(client, server, path, bearer=None, body=None, method=None):
    args = []
    if bearer:
        args += ["-H", "Authorization: Bearer " + bearer]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", body if isinstance(body, str) else json.dumps(body)]
    if method:
        args += ["-X", method]
    return https(client, "https://%s%s" % (server, path), "%s/%s/ca.crt" % (PKI, server), *args)


def metrics(server):
    return inventory_host(server).check_output("curl -s http://127.0.0.1:9470/metrics")


# --- the service -------------------------------------------------------------------

@pytest.mark.parametrize("server", [GW12, GW13])
def test_service_runs_sandboxed_on_loopback(server):
    host = inventory_host(server)
    props = dict(line.split("=", 1) for line in host.check_output(
        "systemctl show llmsec-gateway -p ActiveState -p User -p NoNewPrivileges -p CapabilityBoundingSet "
        "-p ProtectSystem -p PrivateTmp -p MemoryDenyWriteExecute -p RestrictAddressFamilies -p MainPID "
        "-p SystemCallFilter").splitlines())
    assert props["ActiveState"] == "active"
    assert props["User"] == "llmsec-gateway"
    assert props["NoNewPrivileges"] == "yes" and props["ProtectSystem"] == "strict"
    assert props["PrivateTmp"] == "yes" and props["MemoryDenyWriteExecute"] == "yes"
    assert props["CapabilityBoundingSet"] == ""
    assert set(props["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert "execve" in props["SystemCallFilter"] and "mount" not in props["SystemCallFilter"].split()
    status = host.check_output("cat /proc/%s/status" % props["MainPID"])
    assert "CapEff:\t0000000000000000" in status and "NoNewPrivs:\t1" in status
    listeners = host.check_output("ss -Hltn")
    assert "127.0.0.1:11435" in listeners and "127.0.0.1:9470" in listeners
    assert "0.0.0.0:11435" not in listeners and "*:11435" not in listeners and "[::]:11435" not in listeners


def test_gateway_port_is_closed_to_the_network(client):
    assert client.run("curl -s --max-time 5 http://%s:11435/api/tags" % GW12).rc != 0
    assert client.run("curl -s --max-time 5 http://%s:9470/metrics" % GW12).rc != 0


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
    bearer = token(subject="burst-" + RUN)
    statuses = [call(client, GW12, "/api/tags", bearer) for _attempt in range(24)]
    codes = [status for status, _h, _b in statuses]
    # 20 per minute: the bucket refills a third of a request per second while curl runs.
    assert codes[:20] == [200] * 20 and codes[-1] == 429 and codes.count(200) <= 22, codes
    assert "retry-after:" in statuses[-1][1] and "rate limit: requests" in statuses[-1][2]
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


@pytest.mark.parametrize("extra, message", [
    ({"auth_gateway_jwt_keys": [{"kid": "k", "alg": "none", "public_key": "x"}]}, "auth_gateway_jwt_keys[0].alg"),
    ({"auth_gateway_jwt_keys": [{"kid": "k", "alg": "RS256", "public_key": "{{ lookup('file', '%s') }}"
                                 % os.path.join(JWT_DIR, "ed.pub")}]}, "cannot verify RS256"),
    ({"auth_gateway_jwt_keys": [{"kid": "k", "alg": "EdDSA", "public_key": "{{ lookup('file', '%s') }}"
                                 % os.path.join(JWT_DIR, "ed.key")}]}, "holds a private key"),
    ({"auth_gateway_audit_hmac_key": "short"}, "auth_gateway_audit_hmac_key must be at least 32 bytes"),
    ({"auth_gateway_role_actions": {"auditor": ["inference", "sudo"]}}, "unknown action(s) sudo"),
    ({"auth_gateway_listen_address": "0.0.0.0"}, "auth_gateway_listen_address"),
])
def test_bad_input_is_refused_before_the_host_changes(extra, message):
    host = inventory_host(GW13)
    before = host.check_output("sha256sum /etc/llmsec/gateway/config.json /etc/systemd/system/llmsec-gateway.service")
    assert_refused(run_role(host, ROLE, extra), message)
    after = host.check_output("sha256sum /etc/llmsec/gateway/config.json /etc/systemd/system/llmsec-gateway.service")
    assert before == after
    assert host.service("llmsec-gateway").is_running
