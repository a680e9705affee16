"""Verify nginx_tls_proxy from a second container, as a client and as an attacker would."""

import datetime
import hashlib
import hmac
import json
import os
import subprocess
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scenario_helpers import (Refusals, assert_streamed, close_change_window, copy_stream_probe, https,
                              inventory_host, open_change_window, probe, run_role)

BASIC = "llmsec-nginx-basic"    # Debian 12, basic auth, Mozilla intermediate
MTLS = "llmsec-nginx-mtls"      # Debian 13, client certificates, Mozilla modern
ACME = "llmsec-nginx-acme"      # Debian 12, certificate from Pebble through certbot
CLIENT = "llmsec-nginx-client"
CONF = "/etc/nginx/conf.d/llmsec-ollama.conf"
ALICE = "alice:alice-test-password"     # inference only
BOB = "bob:bob-test-password"           # admin
PKI = "/opt/pki"
AUDIT_KEY = b"nginx-scenario-audit-key-0123456789abcdef"   # auth_gateway_audit_hmac_key of molecule.yml
AUDIT_LOG = "/var/log/llmsec-gateway/audit.log"
HERE = os.path.dirname(os.path.abspath(__file__))
GENERATE = json.dumps({"model": "tiny:1b", "prompt": "Why is the sky blue?"})
CHAT_SSE = json.dumps({"model": "tiny:1b", "stream": True, "messages": [{"role": "user", "content": "hi"}]})


@pytest.fixture(scope="module")
def client():
    """The client container, holding the CA and client certificates that the role exported to the controller."""
    exported = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pki")
    subprocess.run(["docker", "exec", CLIENT, "mkdir", "-p", PKI], check=True)
    subprocess.run(["docker", "cp", exported + "/.", CLIENT + ":" + PKI], check=True)
    subprocess.run(["docker", "cp", os.path.join(HERE, "tls_probe.py"), CLIENT + ":/opt/tls_probe.py"], check=True)
    copy_stream_probe(CLIENT)
    return inventory_host(CLIENT)


def ca(server):
    return "%s/%s/ca.crt" % (PKI, server)


def client_cert(name):
    return ["--cert", "%s/%s/%s.crt" % (PKI, MTLS, name), "--key", "%s/%s/%s.key" % (PKI, MTLS, name)]


def curl(client, server, path, *args):
    """(HTTP status, headers, body) of one request from the client; status 0 when no HTTP answer came."""
    return https(client, "https://%s%s" % (server, path), ca(server), *args)


# --- basic authentication, Debian 12 -------------------------------------------------

def test_no_credentials_get_401(client):
    status, headers, _body = curl(client, BASIC, "/api/version")
    assert status == 401
    assert 'www-authenticate: basic realm="ollama"' in headers


def test_wrong_password_gets_401(client):
    assert curl(client, BASIC, "/api/tags", "-u", "alice:guess")[0] == 401


def test_valid_credentials_get_200_over_http2(client):
    out = client.check_output("curl -s --cacert %s -u %s -o /dev/null -w '%%{http_code} %%{http_version}' https://%s/api/version"
                              % (ca(BASIC), ALICE, BASIC))
    assert out == "200 2"


def test_ndjson_streams_chunk_by_chunk(client):
    assert_streamed(probe(client, "stream_probe.py", "https://%s/api/generate" % BASIC,
                          "--cafile", ca(BASIC), "--user", ALICE, "--body", GENERATE))


def test_sse_streams_chunk_by_chunk(client):
    assert_streamed(probe(client, "stream_probe.py", "https://%s/v1/chat/completions" % BASIC,
                          "--cafile", ca(BASIC), "--user", ALICE, "--body", CHAT_SSE))


def test_model_management_needs_an_admin(client):
    pull = json.dumps({"model": "other:1b", "stream": False})
    assert curl(client, BASIC, "/api/pull", "-u", ALICE, "-d", pull)[0] == 403
    assert curl(client, BASIC, "/api/delete", "-u", ALICE, "-X", "DELETE", "-d", '{"model":"tiny:1b"}')[0] == 403
    assert curl(client, BASIC, "/api/blobs/sha256:" + "0" * 64, "-u", ALICE, "-I")[0] == 403
    # The administrator, outside a model change window and inside one.
    status, _headers, body = curl(client, BASIC, "/api/pull", "-u", BOB, "-d", pull)
    assert status == 403 and "change window" in body
    open_change_window(inventory_host(BASIC))
    try:
        status, _headers, body = curl(client, BASIC, "/api/pull", "-u", BOB, "-d", pull)
    finally:
        close_change_window(inventory_host(BASIC))
    assert status == 200 and "success" in body


def test_unauthenticated_admin_request_gets_401_not_403(client):
    """The admin check runs after authentication: no oracle for who is an admin."""
    assert curl(client, BASIC, "/api/pull", "-u", "bob:guess", "-d", "{}")[0] == 401
    assert curl(client, BASIC, "/api/pull", "-d", "{}")[0] == 401


def test_unknown_and_account_paths_get_404(client):
    for path in ("/api/status", "/api/experimental/web_fetch", "/metrics", "/api/../etc/passwd"):
        assert curl(client, BASIC, path, "-u", BOB, "--path-as-is")[0] in (400, 404), path


def test_http_redirects_to_https(client):
    out = client.check_output("curl -s -o /dev/null -w '%%{http_code} %%{redirect_url}' http://%s/api/tags?x=1" % BASIC)
    assert out == "301 https://%s/api/tags?x=1" % BASIC


def test_tls_1_1_refused_by_the_server(client):
    result = probe(client, "tls_probe.py", BASIC, "443", "protocol", "TLSv1_1")
    assert not result["ok"]
    # The server's alert, not the client's own policy, ended it.
    assert "ALERT_PROTOCOL_VERSION" in result["error"], result


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_1_2_and_1_3_accepted(client, version):
    result = probe(client, "tls_probe.py", BASIC, "443", "protocol", version)
    assert result["ok"], result


def test_no_cipher_weaker_than_intermediate(client):
    intermediate = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
                    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305"}
    result = probe(client, "tls_probe.py", BASIC, "443", "ciphers")
    assert result["offered"] > 100  # the client really tried CBC, RC4, 3DES, NULL, EXPORT ...
    assert result["accepted"], result
    assert set(result["accepted"]) <= intermediate, result


def test_session_tickets_off(client):
    out = client.run("openssl s_client -tls1_2 -connect %s:443 -servername %s </dev/null 2>&1" % (BASIC, BASIC)).stdout
    assert "Cipher is ECDHE" in out, out
    assert "TLS session ticket:" not in out


def test_hsts_and_no_version_disclosure(client):
    _status, headers, _body = curl(client, BASIC, "/api/version", "-u", ALICE)
    assert "strict-transport-security: max-age=63072000" in headers
    assert "server: nginx\r\n" in headers


def test_host_outside_the_allowlist_rejected(client):
    """DNS rebinding: a page on evil.example resolves its name to this host."""
    assert curl(client, BASIC, "/api/version", "-u", ALICE, "-H", "Host: evil.example")[0] == 421
    out = client.check_output("curl -s -o /dev/null -w '%%{http_code}' -H 'Host: evil.example' http://%s/" % BASIC)
    assert out == "421"


def test_cors_origins_pinned(client):
    status, headers, _body = curl(client, BASIC, "/api/version", "-u", ALICE, "-H", "Origin: https://chat.example.com")
    assert status == 200 and "access-control-allow-origin: https://chat.example.com" in headers
    status, headers, _body = curl(client, BASIC, "/api/version", "-u", ALICE, "-H", "Origin: https://evil.example")
    assert status == 403 and "access-control-allow-origin" not in headers


def test_request_body_limit(client):
    """16m for inference: a 20 MB prompt never reaches Ollama."""
    client.check_output("head -c 20000000 /dev/zero | tr '\\0' a > /opt/big-prompt")
    status, _headers, _body = curl(client, BASIC, "/api/generate", "-u", ALICE,
                                   "-H", "Content-Type: application/json", "--data-binary", "@/opt/big-prompt")
    assert status == 413


def test_ollama_itself_unreachable_from_the_client(client):
    assert client.run("curl -s --max-time 5 http://%s:11434/api/version" % BASIC).rc != 0


def flood(client, server, *args):
    """150 requests, 10 at a time (under the connection limit), against 20 r/s with a burst of 40."""
    url = "https://%s/api/version" % server
    out = client.check_output("curl -s -Z --parallel-max 10 --cacert %s %s -w '%%{http_code}\\n' %s"
                              % (ca(server), " ".join(args), " ".join(["-o /dev/null " + url] * 150)))
    return out.split()


def test_flood_from_one_address_gets_429(client):
    """Limited before authentication, so a password-guessing flood cannot make nginx check bcrypt hashes at will."""
    codes = flood(client, BASIC)
    assert "429" in codes and "401" in codes, codes
    assert set(codes) == {"401", "429"}, codes


# --- every request through the gateway, audited and metered (basic and mTLS) ----------

def hmac_of(text):
    return hmac.new(AUDIT_KEY, text.encode("utf-8"), hashlib.sha256).hexdigest()


def audited_generate(client, server, *auth):
    """A generate with a prompt nobody sent before, from the client; returns (status, the answer's text,
    the gateway's audit line for it found by the prompt's HMAC, the gateway's metrics)."""
    prompt = "audit me %s" % uuid.uuid4()
    body = json.dumps({"model": "tiny:1b", "prompt": prompt, "stream": False})
    status, _headers, answer = curl(client, server, "/api/generate", "-d", body, *auth)
    host = inventory_host(server)
    wanted = hmac_of(prompt)
    lines = [json.loads(line) for line in host.check_output("cat %s" % AUDIT_LOG).splitlines()]
    matching = [line for line in lines if line.get("prompt_hmacs") == [wanted]]
    assert len(matching) == 1, (wanted, lines[-3:])
    assert prompt not in host.check_output("cat %s" % AUDIT_LOG)
    metrics = host.check_output("curl -s http://127.0.0.1:9470/metrics")
    return status, (json.loads(answer).get("response") if status == 200 else None), matching[0], metrics


def client_address(client):
    return client.check_output("hostname -I").split()[0]


@pytest.mark.parametrize("server, auth, subject", [
    (BASIC, ["-u", ALICE], "alice"),
    (MTLS, client_cert("app1"), "CN=app1"),
])
def test_every_request_is_audited_with_hmacs_and_metered(client, server, auth, subject):
    status, answer, record, metrics = audited_generate(client, server, *auth)
    assert status == 200
    assert record["subject"] == subject and record["role"] == "inference_consumer" and record["status"] == 200
    assert record["response_hmac"] == hmac_of(answer)
    assert record["client"] == client_address(client)
    assert record["tokens"]["prompt"] > 0
    assert 'llmsec_gateway_requests_total{endpoint="/api/generate",role="inference_consumer",status="200"}' \
        in metrics


@pytest.mark.parametrize("server, auth, admin_auth, spoofed", [
    (BASIC, ["-u", ALICE], ["-u", BOB], "bob"),
    (MTLS, client_cert("app1"), client_cert("ops"), "CN=ops"),
])
def test_a_client_cannot_name_its_own_identity(client, server, auth, admin_auth, spoofed):
    """/api/show is open to every authenticated user at nginx and to model_admin only at the gateway:
    the identity header the client sends (any letter case, twice) is replaced by nginx's."""
    show = json.dumps({"model": "tiny:1b"})
    assert curl(client, server, "/api/show", "-d", show, *admin_auth)[0] == 200
    status, _headers, _body = curl(client, server, "/api/show", "-d", show, *auth,
                                   "-H", "X-Llmsec-Identity: " + spoofed, "-H", "x-llmsec-identity: " + spoofed)
    assert status == 403
    last = json.loads(inventory_host(server).check_output("tail -n 1 %s" % AUDIT_LOG))
    assert last["subject"] != spoofed and last["reason"] == "role" and last["status"] == 403


def test_without_the_gateway_nginx_goes_straight_to_ollama():
    """nginx_tls_proxy_gateway: false (the ACME host): no gateway, no identity header, Ollama direct."""
    conf = inventory_host(ACME).file(CONF).content_string
    assert "server 127.0.0.1:11434;" in conf and "llmsec-gateway" not in conf
    assert 'proxy_set_header X-Llmsec-Identity "";' in conf
    assert not inventory_host(ACME).file(AUDIT_LOG).exists


# --- client certificates, Debian 13 ---------------------------------------------------

def test_mtls_without_a_certificate_refused(client):
    assert curl(client, MTLS, "/api/version")[0] in (0, 400)


def test_mtls_with_a_certificate_accepted(client):
    status, _headers, body = curl(client, MTLS, "/api/version", *client_cert("app1"))
    assert status == 200 and "version" in body


def test_mtls_certificate_from_another_ca_refused(client, tmp_path):
    """A client certificate the attacker signed himself, with an admin's name."""
    cert, key = pem_pair(common_name="ops")
    (tmp_path / "forged.crt").write_text(cert)
    (tmp_path / "forged.key").write_text(key)
    for part in ("crt", "key"):
        subprocess.run(["docker", "cp", str(tmp_path / ("forged." + part)), CLIENT + ":/opt/forged." + part], check=True)
    status, _headers, _body = curl(client, MTLS, "/api/pull", "--cert", "/opt/forged.crt", "--key", "/opt/forged.key", "-d", "{}")
    assert status in (0, 400)


def test_mtls_model_management_needs_the_admin_certificate(client):
    pull = json.dumps({"model": "other:1b", "stream": False})
    assert curl(client, MTLS, "/api/pull", "-d", pull, *client_cert("app1"))[0] == 403
    status, _headers, body = curl(client, MTLS, "/api/pull", "-d", pull, *client_cert("ops"))
    assert status == 403 and "change window" in body  # the administrator, outside a model change window
    open_change_window(inventory_host(MTLS))
    try:
        assert curl(client, MTLS, "/api/pull", "-d", pull, *client_cert("ops"))[0] == 200
    finally:
        close_change_window(inventory_host(MTLS))


def test_modern_profile_refuses_tls_1_2(client):
    assert not probe(client, "tls_probe.py", MTLS, "443", "protocol", "TLSv1_2")["ok"]
    assert probe(client, "tls_probe.py", MTLS, "443", "protocol", "TLSv1_3")["ok"]


def test_flood_from_one_certificate_gets_429(client):
    codes = flood(client, MTLS, *client_cert("app1"))
    assert "429" in codes and "200" in codes, codes
    assert set(codes) == {"200", "429"}, codes


def test_mtls_streams_chunk_by_chunk(client):
    mtls = ["--cert", "%s/%s/app1.crt" % (PKI, MTLS), "--key", "%s/%s/app1.key" % (PKI, MTLS)]
    assert_streamed(probe(client, "stream_probe.py", "https://%s/api/chat" % MTLS, "--cafile", ca(MTLS),
                          "--body", json.dumps({"model": "tiny:1b", "messages": [{"role": "user", "content": "hi"}]}),
                          *mtls))


def test_removed_client_is_revoked(client):
    """Take app1 off the list: its certificate, still within its validity, stops working; ops keeps working."""
    host = inventory_host(MTLS)
    result = run_role(host, {"nginx_tls_proxy_mtls_clients": [{"name": "ops", "admin": True}]})
    assert result.returncode == 0, result.stdout[-3000:]
    assert curl(client, MTLS, "/api/version", *client_cert("app1"))[0] in (0, 400)
    assert curl(client, MTLS, "/api/version", *client_cert("ops"))[0] == 200
    assert host.file("/etc/llmsec/pki/revoked/app1.crt").exists  # kept, never deleted
    assert "app1" not in host.check_output("ls /etc/llmsec/pki/clients")


# --- ACME (Pebble on the client container) ----------------------------------------------

def served_certificate(client, server):
    return client.check_output(
        "openssl s_client -connect %s:443 -servername %s </dev/null 2>/dev/null | openssl x509 -noout -serial -issuer"
        % (server, server))


@pytest.fixture(scope="module")
def pebble_root(client):
    """Pebble makes a new root at each start; clients get it from its management API."""
    client.check_output("curl -sk https://localhost:15000/roots/0 -o /opt/acme/pebble-root.pem")
    return "/opt/acme/pebble-root.pem"


def test_acme_certificate_served(client, pebble_root):
    assert "Pebble" in served_certificate(client, ACME)
    out = client.check_output("curl -s --cacert %s -u carol:carol-test-password -o /dev/null -w '%%{http_code}' "
                              "https://%s/api/version" % (pebble_root, ACME))
    assert out == "200"


def test_ocsp_stapling_follows_the_certificate():
    """Pebble's certificates name an OCSP responder, the internal CA's do not."""
    assert "ssl_stapling on;" in inventory_host(ACME).file(CONF).content_string
    assert "ssl_stapling" not in inventory_host(BASIC).file(CONF).content_string


def test_acme_renewal_on_the_timer():
    host = inventory_host(ACME)
    assert host.service("certbot.timer").is_enabled
    assert host.service("certbot.timer").is_running
    env = host.check_output("systemctl show certbot.service -p Environment")
    assert "REQUESTS_CA_BUNDLE=/etc/llmsec/test-acme-ca.crt" in env


def test_acme_renewal_reaches_nginx(client):
    """A forced renewal (what the timer does near expiry) gets a new certificate, and the hook reloads nginx."""
    host = inventory_host(ACME)
    before = served_certificate(client, ACME)
    host.check_output("REQUESTS_CA_BUNDLE=/etc/llmsec/test-acme-ca.crt "
                      "certbot renew --force-renewal --no-random-sleep-on-renew -q")
    after = served_certificate(client, ACME)
    assert after != before and "Pebble" in after


# --- bad input: refused before nginx is touched -----------------------------------------

def pem_pair(days_valid=30, days_offset=0, common_name=BASIC):
    """A self-signed certificate and its key, as PEM text."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days_offset)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days_valid))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def bad_input_cases():
    """(variables, message) of each input the role must refuse, by name; the certificates are made once."""
    cert, _unused = pem_pair()
    _unused, other_key = pem_pair()
    expired, expired_key = pem_pair(days_valid=10, days_offset=-30)
    return {
        "cert_not_matching_key": ({"nginx_tls_proxy_cert_source": "provided", "nginx_tls_proxy_certificate": cert,
                                   "nginx_tls_proxy_private_key": other_key}, "does not match"),
        "expired_cert": ({"nginx_tls_proxy_cert_source": "provided", "nginx_tls_proxy_certificate": expired,
                          "nginx_tls_proxy_private_key": expired_key}, "is not valid now"),
        "missing_cert_file": ({"nginx_tls_proxy_cert_source": "provided",
                               "nginx_tls_proxy_certificate_path": "/etc/ssl/missing.crt",
                               "nginx_tls_proxy_private_key_path": "/etc/ssl/private/missing.key"},
                              "/etc/ssl/missing.crt) cannot be read"),
        # no users means no proxy, not an open one
        "no_users": ({"nginx_tls_proxy_basic_users": []}, "nginx_tls_proxy_basic_users must list"),
        "wildcard_origin": ({"nginx_tls_proxy_cors_origins": ["*"]}, "nginx_tls_proxy_cors_origins must hold"),
    }


BAD_INPUT = bad_input_cases()


@pytest.fixture(scope="module")
def bad_input():
    """Every refusal case in one Ansible run on the basic-auth host, with its configuration around it."""
    host = inventory_host(BASIC)
    return host, Refusals(host, list(BAD_INPUT.values()),
                          lambda: (host.file(CONF).sha256sum, host.check_output("ls /etc/llmsec/nginx")))


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_refused_before_any_change(bad_input, case):
    host, runs = bad_input
    runs.check(*BAD_INPUT[case])
    assert host.service("nginx").is_running
