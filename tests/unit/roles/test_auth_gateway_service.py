"""The auth_gateway service in-process: a real aiohttp server, real JWTs, a fake Ollama."""

import asyncio
import base64
import json
import os
import sys
import time

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.llmsec.hardening.plugins.module_utils import change_window
from ansible_collections.llmsec.hardening.plugins.module_utils import gateway_policy as gp
from ansible_collections.llmsec.hardening.plugins.module_utils import guard_model
from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_api as oa
from ansible_collections.llmsec.hardening.plugins.module_utils import ratelimit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# On the host the role installs these two beside the service, which imports them by their bare names.
# (Not plugins/module_utils on sys.path: its seccomp.py would shadow libseccomp's binding.)
sys.modules.setdefault("gateway_policy", gp)
sys.modules.setdefault("change_window", change_window)
sys.modules.setdefault("ratelimit", ratelimit)
sys.modules.setdefault("ollama_api", oa)
sys.modules.setdefault("guard_model", guard_model)
sys.path.insert(0, os.path.join(ROOT, "roles", "auth_gateway", "files"))
import llmsec_gateway as gw  # noqa: E402

ISS, AUD = "https://auth.test", "llmsec-gateway"
PRIVATE = ed25519.Ed25519PrivateKey.generate()
PUBLIC_PEM = PRIVATE.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
OTHER = ed25519.Ed25519PrivateKey.generate()
HS_SECRET = "h" * 40
PROMPT = "the secret plan is purple-elephant-42"


def token(role="inference_consumer", key=PRIVATE, alg="EdDSA", kid="ed1", subject="alice", **changes):
    claims = gp.build_claims(subject, role, 600, ISS, AUD, time.time())
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None)


def unsigned(header, claims):
    def enc(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return "%s.%s." % (enc(header), enc(claims))


class FakeOllama:
    def __init__(self):
        self.cancelled = 0
        self.app = web.Application()
        self.app.router.add_post("/api/generate", self.generate)
        self.app.router.add_post("/api/pull", self.ok)
        self.app.router.add_get("/api/tags", self.ok)
        self.app.router.add_post("/api/slow", self.ok)

    async def ok(self, request):
        await request.read()
        return web.json_response({"status": "success"})

    async def generate(self, request):
        body = await request.json()
        assert "Authorization" not in request.headers
        delay = body.get("options", {}).get("delay", 0.0)
        if body.get("stream") is False:
            await asyncio.sleep(delay)
            return web.json_response({"response": "fine", "done": True, "prompt_eval_count": 5, "eval_count": 1})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            for word in ["one", " two", " three", " four"]:
                await response.write(json.dumps({"response": word, "done": False}).encode() + b"\n")
                await asyncio.sleep(delay)
            await response.write(json.dumps({"response": "", "done": True, "prompt_eval_count": 10,
                                             "eval_count": 4}).encode() + b"\n")
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return response


@pytest.fixture
def env(tmp_path, monkeypatch):
    # A change window open for the model routes (test_model_routes_follow_the_change_window closes it); the
    # test's user stands in for root, the only owner that opens one.
    monkeypatch.setattr(change_window, "OWNER_UID", os.geteuid())
    (tmp_path / "change-window.json").write_text(change_window.render("CHG-test", "tests", 60))
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "audit-hmac").write_text("a" * 48)
    (creds / "jwt-hs1").write_text(HS_SECRET)
    config = {
        "issuer": ISS, "audience": AUD, "max_ttl": 900, "leeway": 30,
        "keys": [{"kid": "ed1", "alg": "EdDSA", "public_key": PUBLIC_PEM},
                 {"kid": "hs1", "alg": "HS256", "secret_credential": "jwt-hs1"}],
        "pull_registries": ["registry.ollama.ai"],
        "requests_per_window": 1000, "request_window": 60, "token_budget": 100000, "token_window": 3600,
        "max_concurrent": 4, "queue_timeout": 5, "max_body": 4096, "connect_timeout": 1,
        "upstream_timeout": 2, "audit_log": str(tmp_path / "audit.log"), "credentials_dir": str(creds),
        "audit_key_id": "k1", "change_window_file": str(tmp_path / "change-window.json"),
    }
    return tmp_path, config


def run(config, scenario, upstream=True):
    async def main():
        fake = FakeOllama()
        servers = []
        if upstream:
            up = TestServer(fake.app)
            await up.start_server()
            servers.append(up)
            config["upstream"] = str(up.make_url("")).rstrip("/")
        else:
            config["upstream"] = "http://127.0.0.1:9"
        settings = gw.Settings(config)
        gateway, app, _metrics = gw.build_apps(settings)
        server = TestServer(app, handler_cancellation=True)
        await server.start_server()
        servers.append(server)
        try:
            async with aiohttp.ClientSession(str(server.make_url(""))) as client:
                return await scenario(client, gateway, fake)
        finally:
            for item in reversed(servers):
                await item.close()
    return asyncio.run(main())


async def post(client, path, body=None, bearer=None, raw=None):
    headers = {"Authorization": "Bearer " + bearer} if bearer else {}
    async with client.post(path, data=raw if raw is not None else json.dumps(body or {}), headers=headers) as resp:
        return resp.status, await resp.read(), resp.headers


def audit_lines(tmp_path):
    return [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]


def test_consumer_streams_and_the_audit_log_holds_hmacs_only(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        arrivals = []
        headers = {"Authorization": "Bearer " + token()}
        body = {"model": "llama3.2", "prompt": PROMPT, "options": {"delay": 0.2}}
        async with client.post("/api/generate", json=body, headers=headers) as resp:
            assert resp.status == 200
            async for line in resp.content:
                arrivals.append((time.monotonic(), json.loads(line)))
        return arrivals

    arrivals = run(config, scenario)
    assert len(arrivals) == 5
    assert arrivals[-1][0] - arrivals[0][0] > 0.6  # chunk by chunk, not buffered
    record = audit_lines(tmp_path)[-1]
    assert record["status"] == 200 and record["subject"] == "alice" and record["role"] == "inference_consumer"
    assert record["tokens"] == {"prompt": 10, "completion": 4}
    assert record["prompt_hmacs"] == [gp.hmac_hex(b"a" * 48, PROMPT)]
    assert record["response_hmac"] == gp.hmac_hex(b"a" * 48, "one two three four")
    assert "purple" not in (tmp_path / "audit.log").read_text()


@pytest.mark.parametrize("make, reason", [
    (lambda: None, "missing"),
    (lambda: token(key=OTHER), "bad_signature"),
    (lambda: unsigned({"alg": "none", "kid": "ed1"},
                      gp.build_claims("a", "model_admin", 60, ISS, AUD, time.time())), "algorithm"),
    (lambda: jwt.encode(gp.build_claims("a", "model_admin", 60, ISS, AUD, time.time()), HS_SECRET + "x",
                        algorithm="HS256", headers={"kid": "ed1"}), "algorithm"),
    (lambda: token(key=HS_SECRET + "wrong", alg="HS256", kid="hs1"), "bad_signature"),
    (lambda: token(exp=int(time.time()) - 120, iat=int(time.time()) - 400), "expired"),
    (lambda: token(nbf=int(time.time()) + 300), "not_yet_valid"),
    (lambda: token(aud="someone-else"), "audience"),
    (lambda: token(iss="https://evil"), "issuer"),
    (lambda: token(exp=int(time.time()) + 7200), "lifetime"),
    (lambda: token(kid="retired"), "unknown_kid"),
    (lambda: "not.a.jwt", "malformed"),
])
def test_attacks_get_401(env, make, reason):
    _tmp, config = env

    async def scenario(client, gateway, fake):
        status, body, headers = await post(client, "/api/generate", {"model": "llama3.2", "prompt": "x"}, make())
        metrics = gateway.metrics.render().decode()
        return status, headers, metrics

    status, headers, metrics = run(config, scenario)
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert 'llmsec_gateway_auth_failures_total{reason="%s"} 1.0' % reason in metrics


def test_hs256_signed_with_the_public_key_is_refused(env):
    _tmp, config = env
    # The classic confusion: HS256 keyed with the gateway's own public key, naming that key.
    forged = jwt.api_jws.PyJWS()
    raw = forged.encode(json.dumps(gp.build_claims("a", "model_admin", 60, ISS, AUD, time.time())).encode(),
                        key=b"placeholder-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": "ed1"})
    header, payload, _sig = raw.split(".")
    import hashlib
    import hmac
    signature = hmac.new(PUBLIC_PEM.encode(), ("%s.%s" % (header, payload)).encode(), hashlib.sha256).digest()
    forged_token = "%s.%s.%s" % (header, payload, base64.urlsafe_b64encode(signature).rstrip(b"=").decode())

    async def scenario(client, gateway, fake):
        return (await post(client, "/api/pull", {"model": "llama3.2"}, forged_token))[0]

    assert run(config, scenario) == 401


def test_hs256_key_works(env):
    _tmp, config = env

    async def scenario(client, gateway, fake):
        return (await post(client, "/api/generate", {"model": "m", "prompt": "x", "stream": False},
                           token(key=HS_SECRET, alg="HS256", kid="hs1")))[0]

    assert run(config, scenario) == 200


def test_rbac_and_registry_allowlist(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        return [
            (await post(client, "/api/pull", {"model": "llama3.2"}, token()))[0],
            (await post(client, "/api/generate", {"model": "llama3.2", "prompt": "x"}, token("auditor")))[0],
            (await post(client, "/api/pull", {"model": "evil.example.com/x/y"}, token("model_admin")))[0],
            (await post(client, "/api/pull", {"model": "llama3.2"}, token("model_admin")))[0],
            (await post(client, "/api/me", {}, token("model_admin")))[0],
        ]

    assert run(config, scenario) == [403, 403, 403, 200, 404]
    reasons = [record.get("reason") for record in audit_lines(tmp_path)]
    assert reasons == ["role", "role", "registry", None, "no_route"]


def test_model_routes_follow_the_change_window(env):
    """The window's file is read as it changes, without a restart: a pull is refused before it is opened and
    after it is closed, and forwarded while it is open; other routes never notice."""
    tmp_path, config = env
    window = tmp_path / "change-window.json"
    window.unlink()

    async def scenario(client, gateway, fake):
        admin = token("model_admin")
        statuses = [(await post(client, "/api/pull", {"model": "llama3.2"}, admin))[0]]
        window.write_text(change_window.render("CHG-2", "ops", 5))
        statuses.append((await post(client, "/api/pull", {"model": "llama3.2"}, admin))[0])
        window.write_text(change_window.render("CHG-2", "ops", 5, now=time.time() - 600))  # its deadline passed
        statuses.append((await post(client, "/api/pull", {"model": "llama3.2"}, admin))[0])
        window.unlink()
        statuses.append((await post(client, "/api/pull", {"model": "llama3.2"}, admin))[0])
        statuses.append((await post(client, "/api/generate", {"model": "llama3.2", "prompt": "x"}, token()))[0])
        return statuses

    assert run(config, scenario) == [403, 200, 403, 403, 200]
    records = audit_lines(tmp_path)
    assert [record.get("reason") for record in records] == ["change_window", None, "change_window",
                                                            "change_window", None]
    assert records[0]["subject"] == "alice" and records[0]["endpoint"] == "/api/pull"


def test_request_burst_gets_429(env):
    _tmp, config = env
    config.update(requests_per_window=3, request_window=60)

    async def scenario(client, gateway, fake):
        bearer = token()
        results = []
        for _attempt in range(5):
            async with client.get("/api/tags", headers={"Authorization": "Bearer " + bearer}) as resp:
                results.append((resp.status, resp.headers.get("Retry-After")))
        # another subject has its own bucket
        async with client.get("/api/tags", headers={"Authorization": "Bearer " + token(subject="bob")}) as resp:
            results.append((resp.status, None))
        return results

    results = run(config, scenario)
    assert [status for status, _retry in results] == [200, 200, 200, 429, 429, 200]
    assert int(results[3][1]) >= 1


def test_token_budget_gets_429(env):
    _tmp, config = env
    config.update(token_budget=20, token_window=3600)

    async def scenario(client, gateway, fake):
        bearer = token()
        statuses = []
        for _attempt in range(3):
            status, _body, headers = await post(client, "/api/generate", {"model": "m", "prompt": "x"}, bearer)
            statuses.append((status, headers.get("Retry-After")))
        return statuses

    statuses = run(config, scenario)
    # 14 tokens each: the second request overdraws, the third is refused.
    assert [s for s, _retry in statuses] == [200, 200, 429]
    assert int(statuses[2][1]) > 100


def test_concurrency_cap(env):
    _tmp, config = env
    config.update(max_concurrent=1, queue_timeout=0.2)

    async def scenario(client, gateway, fake):
        body = {"model": "m", "prompt": "x", "stream": False, "options": {"delay": 1.0}}
        return sorted(result[0] for result in await asyncio.gather(
            post(client, "/api/generate", body, token()), post(client, "/api/generate", body, token(subject="b"))))

    assert run(config, scenario) == [200, 429]


def test_bad_json_oversize_and_backend_down(env):
    _tmp, config = env

    async def scenario(client, gateway, fake):
        bearer = token()
        return [(await post(client, "/api/generate", None, bearer, raw=b"{not json"))[0],
                (await post(client, "/api/generate", {"model": "m", "prompt": "x" * 5000}, bearer))[0]]

    assert run(config, scenario) == [400, 413]

    async def down(client, gateway, fake):
        first = (await post(client, "/api/generate", {"model": "m", "prompt": "x"}, token()))[0]
        second = (await post(client, "/api/generate", {"model": "m", "prompt": "x"}, token()))[0]
        return first, second, gateway.metrics.render().decode()

    first, second, metrics = run(config, down, upstream=False)
    assert (first, second) == (502, 502)  # and still serving
    assert 'llmsec_gateway_upstream_errors_total{kind="unreachable"} 2.0' in metrics


def test_slow_backend_gets_504(env):
    _tmp, config = env
    config.update(upstream_timeout=0.3)

    async def scenario(client, gateway, fake):
        body = {"model": "m", "prompt": "x", "stream": False, "options": {"delay": 2}}
        return (await post(client, "/api/generate", body, token()))[0]

    assert run(config, scenario) == 504


def test_client_disconnect_cancels_upstream(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        body = {"model": "m", "prompt": "x", "options": {"delay": 0.5}}
        async with client.post("/api/generate", json=body, headers={"Authorization": "Bearer " + token()}) as resp:
            await resp.content.readline()
            resp.close()
        for _attempt in range(40):
            if fake.cancelled:
                break
            await asyncio.sleep(0.05)
        return fake.cancelled

    assert run(config, scenario) == 1
    assert audit_lines(tmp_path)[-1]["status"] == 499


def test_auditor_verifies_a_suspected_prompt_and_reads_metrics(env):
    _tmp, config = env

    async def scenario(client, gateway, fake):
        await post(client, "/api/generate", {"model": "m", "prompt": PROMPT, "stream": False}, token())
        auditor = token("auditor", subject="carol")
        sent = json.loads((await post(client, "/llmsec/audit/verify", {"text": PROMPT}, auditor))[1])
        other = json.loads((await post(client, "/llmsec/audit/verify", {"text": "never sent"}, auditor))[1])
        async with client.get("/llmsec/metrics", headers={"Authorization": "Bearer " + auditor}) as resp:
            metrics = await resp.text()
        consumer = (await post(client, "/llmsec/audit/verify", {"text": PROMPT}, token()))[0]
        return sent, other, metrics, consumer

    sent, other, metrics, consumer = run(config, scenario)
    assert sent["sent"] is True and sent["records"][0]["subject"] == "alice"
    assert other["sent"] is False and other["records"] == []
    assert 'llmsec_gateway_requests_total{endpoint="/api/generate",role="inference_consumer",status="200"}' \
        in metrics
    assert 'llmsec_gateway_llm_tokens_total{kind="prompt",role="inference_consumer"} 5.0' in metrics
    assert consumer == 403


def test_bad_configuration_is_refused(env):
    _tmp, config = env
    config["keys"] = [{"kid": "k", "alg": "RS256", "public_key": PUBLIC_PEM}]
    with pytest.raises(gw.ConfigError, match="cannot verify RS256"):
        gw.Settings(config)
    config["keys"] = [{"kid": "k", "alg": "HS256", "secret_credential": "missing"}]
    with pytest.raises(gw.ConfigError, match="cannot read secret missing"):
        gw.Settings(config)


def test_concurrent_requests_cannot_overspend_the_budget(env):
    """Each request reserves its estimate before it is forwarded: the budget is overdrawn by one request at most."""
    tmp_path, config = env
    config.update(token_budget=20, max_concurrent=8, max_concurrent_per_subject=8, default_completion_estimate=5)

    async def scenario(client, gateway, fake):
        body = {"model": "m", "prompt": "x", "stream": False, "options": {"delay": 0.3}}
        return [result[0] for result in await asyncio.gather(
            *[post(client, "/api/generate", body, token(subject="greedy")) for _attempt in range(8)])]

    statuses = run(config, scenario)
    # estimate 1 + 5 = 6: 20 -> 14 -> 8 -> 2 -> -4, the fifth sees a negative balance.
    assert sorted(statuses) == [200] * 4 + [429] * 4
    charged = [line["tokens"]["prompt"] + line["tokens"]["completion"] for line in audit_lines(tmp_path)
               if line["status"] == 200]
    assert sum(charged) <= 20 + max(charged)


def test_one_subject_gets_half_the_slots(env):
    _tmp, config = env
    config.update(max_concurrent=2)  # one slot per subject

    async def scenario(client, gateway, fake):
        body = {"model": "m", "prompt": "x", "stream": False, "options": {"delay": 0.5}}
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def timed(subject, delay):
            await asyncio.sleep(delay)
            status = (await post(client, "/api/generate", body, token(subject=subject)))[0]
            return status, loop.time() - start

        return await asyncio.gather(timed("hog", 0), timed("hog", 0), timed("other", 0.1))

    (s1, t1), (s2, t2), (s3, t3) = run(config, scenario)
    assert (s1, s2, s3) == (200, 200, 200)
    assert t3 < max(t1, t2)  # the other subject did not queue behind the hog's second request


def test_the_meter_charges_estimates_when_counts_are_missing():
    meter = gw.Meter(b"k" * 32)
    meter.content_type("application/x-ndjson")
    meter.feed(b'{"response":"a"}\n{"thinking":"hm"}\n')
    assert meter.charge((7, 100)) == (7, 100)  # cut before the end: the reservation
    meter.feed(b'{"response":"","done":true}\n')
    assert meter.charge((7, 100)) == (7, 2)  # ended without counts: a token a chunk, thinking included
    meter.feed(b'{"done":true,"prompt_eval_count":3,"eval_count":9}\n')
    assert meter.charge((7, 100)) == (3, 9)  # what Ollama reported
    sse = gw.Meter(b"k" * 32)
    sse.content_type("text/event-stream")
    sse.feed(b'data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n')
    assert sse.charge((5, 50)) == (5, 1)


def test_behind_the_unix_socket_the_forwarded_address_is_trusted(env, tmp_path):
    tmp, config = env
    config["upstream"] = "http://127.0.0.1:9"

    async def main():
        settings = gw.Settings(config)
        gateway, app, _metrics = gw.build_apps(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        path = str(tmp_path / "api.sock")
        await web.UnixSite(runner, path).start()
        try:
            connector = aiohttp.UnixConnector(path=path)
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.get("http://localhost/api/tags",
                                       headers={"X-Forwarded-For": "198.51.100.7"}) as resp:
                    return resp.status
        finally:
            await runner.cleanup()

    assert asyncio.run(main()) == 401
    assert audit_lines(tmp)[-1]["client"] == "198.51.100.7"


def test_a_body_that_does_not_arrive_gets_408(env):
    tmp_path, config = env
    config.update(body_timeout=0.3)

    async def scenario(client, gateway, fake):
        url = client._base_url  # pylint: disable=protected-access
        reader, writer = await asyncio.open_connection(url.host, url.port)
        writer.write(("POST /api/generate HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer %s\r\n"
                      "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":" % token()).encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        return status

    assert run(config, scenario).split()[1] == b"408"
    assert audit_lines(tmp_path)[-1]["reason"] == "body_timeout"


def proxy_config(config):
    """auth proxy: identities nginx authenticated (basic user, certificate subject), no keys."""
    config = dict(config, auth="proxy", identities={
        "alice": "inference_consumer", "CN=ops": "model_admin",
        "carol": {"role": "inference_consumer", "models": ["tiny:*"]}})
    for name in ("issuer", "audience", "keys"):
        config.pop(name)
    return config


def run_on_socket(config, tmp_path, scenario):
    """The gateway on a Unix socket (as systemd gives it to nginx), a fake Ollama on TCP."""
    async def main():
        fake = FakeOllama()
        up = TestServer(fake.app)
        await up.start_server()
        config["upstream"] = str(up.make_url("")).rstrip("/")
        gateway, app, _metrics = gw.build_apps(gw.Settings(config))
        runner = web.AppRunner(app)
        await runner.setup()
        path = str(tmp_path / "api.sock")
        await web.UnixSite(runner, path).start()
        try:
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as session:
                return await scenario(session, gateway)
        finally:
            await runner.cleanup()
            await up.close()
    return asyncio.run(main())


def test_proxy_mode_audits_and_meters_the_identity_nginx_authenticated(env, tmp_path):
    tmp, config = env
    config = proxy_config(config)

    async def scenario(session, gateway):
        results = {}
        body = {"model": "llama3.2", "prompt": PROMPT, "stream": False}

        async def call(name, path, identity=None, headers=(), payload=None):
            payload = body if payload is None else payload
            hdrs = list(headers)
            if identity is not None:
                hdrs.append((gp.IDENTITY_HEADER, identity))
            async with session.post("http://localhost" + path, json=payload, headers=hdrs) as resp:
                results[name] = resp.status, await resp.read()

        await call("alice", "/api/generate", "alice")
        await call("admin pull", "/api/pull", "CN=ops", payload={"model": "tiny:1b"})
        await call("alice pull", "/api/pull", "alice", payload={"model": "tiny:1b"})
        await call("carol other model", "/api/generate", "carol")
        await call("stranger", "/api/generate", "mallory")
        await call("no identity", "/api/generate")
        # A bearer token means nothing in proxy mode, and two identities are none.
        await call("token only", "/api/generate", headers=[("Authorization", "Bearer " + token())])
        await call("two identities", "/api/generate", "alice", headers=[(gp.IDENTITY_HEADER, "CN=ops")])
        results["metrics"] = gateway.metrics.render().decode()
        return results

    results = run_on_socket(config, tmp_path, scenario)
    assert results["alice"][0] == 200
    assert results["admin pull"][0] == 200
    assert results["alice pull"][0] == 403
    assert results["carol other model"][0] == 403
    assert results["stranger"][0] == 403
    assert results["no identity"][0] == 401
    assert results["token only"][0] == 401
    assert results["two identities"][0] == 401
    lines = audit_lines(tmp)
    first = lines[0]
    assert first["subject"] == "alice" and first["role"] == "inference_consumer" and first["status"] == 200
    assert first["prompt_hmacs"] == [gp.hmac_hex(b"a" * 48, PROMPT)]
    assert first["response_hmac"] == gp.hmac_hex(b"a" * 48, "fine")
    assert first["tokens"] == {"prompt": 5, "completion": 1}
    assert [line["status"] for line in lines] == [200, 200, 403, 403, 403, 401, 401, 401]
    assert lines[4]["subject"] == "mallory" and lines[4]["reason"] == "identity"
    assert 'llmsec_gateway_requests_total{endpoint="/api/generate",role="inference_consumer",status="200"} 1.0' \
        in results["metrics"]
    assert 'llmsec_gateway_auth_failures_total{reason="identity"} 1.0' in results["metrics"]


def test_proxy_mode_trusts_the_identity_only_on_the_socket(env):
    _tmp, config = env
    config = proxy_config(config)

    async def scenario(client, _gateway, _fake):
        async with client.post("/api/generate", json={"model": "x", "prompt": "p"},
                               headers={gp.IDENTITY_HEADER: "CN=ops"}) as resp:
            return resp.status

    assert run(config, scenario) == 401


@pytest.mark.parametrize("change, message", [
    ({"auth": "proxy", "identities": {}}, "needs identities"),
    ({"auth": "proxy", "identities": {"bob": "root"}}, "role must be one of"),
    ({"auth": "proxy", "identities": {"bob\n": "auditor"}}, "control characters"),
    ({"auth": "proxy", "identities": {"bob": {"role": "auditor", "model": ["x"]}}}, "unknown key"),
    ({"auth": "proxy", "identity_default_role": "admin"}, "identity_default_role"),
    ({"auth": "both"}, "auth must be one of"),
])
def test_bad_proxy_configuration_is_refused(env, change, message):
    _tmp, config = env
    with pytest.raises(gw.ConfigError, match=message):
        gw.Settings(dict(config, **change))


# --------------------------------------------------------------------------
# The guard model (auth_gateway_guard_*): a fake Llama Guard on the same fake Ollama
# --------------------------------------------------------------------------

class GuardedOllama(FakeOllama):
    """Adds a guard at /api/chat (Llama Guard's answers, from markers: UNSAFE-S1, UNSAFE-S6, SLOW) and
    workers whose answer turns unsafe at its third word when the prompt says TURN."""

    WORDS = ["one", " two", " UNSAFE-S1", " four", " five", " six"]

    def __init__(self):
        super().__init__()
        self.guard_calls = []
        self.worker_calls = 0
        self.app.router.add_post("/api/chat", self.guard)
        self.app.router.add_post("/v1/chat/completions", self.openai)

    async def guard(self, request):
        body = await request.json()
        turns = " ".join(m["content"] for m in body["messages"] if m["role"] != "system")
        self.guard_calls.append([m["role"] for m in body["messages"]])
        if "SLOW" in turns:
            await asyncio.sleep(3)
        answer = "unsafe\nS1" if "UNSAFE-S1" in turns else "unsafe\nS6" if "UNSAFE-S6" in turns else "safe"
        return web.json_response({"model": body["model"], "message": {"role": "assistant", "content": answer},
                                  "done": True})

    def words(self, prompt):
        return self.WORDS if "TURN" in prompt else ["one", " two", " three", " four"]

    async def generate(self, request):  # the worker, in place of FakeOllama's
        self.worker_calls += 1
        body = await request.json()
        words = self.words(body["prompt"])
        if body.get("stream") is False:
            return web.json_response({"response": "".join(words), "done": True, "prompt_eval_count": 5,
                                      "eval_count": len(words)})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        for word in words:
            await response.write(json.dumps({"response": word, "done": False}).encode() + b"\n")
        await response.write(json.dumps({"response": "", "done": True, "prompt_eval_count": 10,
                                         "eval_count": len(words)}).encode() + b"\n")
        return response

    async def openai(self, request):
        self.worker_calls += 1
        body = await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for word in self.words(body["messages"][-1]["content"]):
            event = {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        return response


GUARD = {"model": "llama-guard3:1b", "protocol": "llama_guard", "screen": ["prompt", "response"],
         "block_categories": ["S1"], "role_overrides": {"prompt_engineer": "flag"}, "fail_mode": "closed",
         "timeout": 1, "stream_window": 2, "max_concurrent": 2}


def run_guarded(config, scenario, **guard):
    config["guard"] = dict(GUARD, **guard)
    original = FakeOllama
    gw_fake = GuardedOllama

    async def wrapped(client, gateway, fake):
        return await scenario(client, gateway, fake)
    globals()["FakeOllama"] = gw_fake
    try:
        return run(config, wrapped)
    finally:
        globals()["FakeOllama"] = original


def guard_entries(tmp_path):
    return [record for record in audit_lines(tmp_path) if record.get("endpoint") != "other"]


def test_an_unsafe_prompt_is_refused_with_its_category_and_costs_nothing(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        status, body, _headers = await post(client, "/api/generate", {"model": "llama3.2", "prompt": "UNSAFE-S1 now"},
                                            token())
        return status, json.loads(body), fake.worker_calls, gateway.metrics.render().decode()

    status, body, worker_calls, metrics = run_guarded(config, scenario)
    assert (status, body) == (403, {"error": "the request was blocked by the guard: S1"}) and worker_calls == 0
    record = audit_lines(tmp_path)[-1]
    assert record["reason"] == "guard" and "tokens" not in record
    assert record["guard"] == [{"direction": "prompt", "model": "llama-guard3:1b", "verdict": "unsafe",
                                "categories": ["S1"], "action": "block", "latency_ms": record["guard"][0]["latency_ms"]}]
    assert 'llmsec_gateway_guard_verdicts_total{action="block",direction="prompt",role="inference_consumer",' \
           'verdict="unsafe"} 1.0' in metrics
    assert 'llmsec_gateway_guard_unsafe_total{role="inference_consumer",subject="alice"} 1.0' in metrics
    assert "UNSAFE" not in (tmp_path / "audit.log").read_text()


def test_a_safe_exchange_passes_untouched(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        guarded = await post(client, "/api/generate", {"model": "llama3.2", "prompt": "hello", "stream": False},
                             token())
        gateway.settings.guard = None
        plain = await post(client, "/api/generate", {"model": "llama3.2", "prompt": "hello", "stream": False},
                           token())
        return guarded, plain, fake.guard_calls

    guarded, plain, calls = run_guarded(config, scenario)
    assert guarded[0] == 200 and guarded[1] == plain[1]  # byte-identical
    assert calls == [["user"], ["user", "assistant"]]  # the prompt, then the answer to it
    record = audit_lines(tmp_path)[0]
    assert [(g["direction"], g["action"]) for g in record["guard"]] == [("prompt", "pass"), ("response", "pass")]


def test_a_non_streamed_unsafe_answer_is_refused_and_charged(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        return await post(client, "/api/generate", {"model": "llama3.2", "prompt": "TURN", "stream": False}, token())

    status, body, _headers = run_guarded(config, scenario)
    assert status == 403 and json.loads(body) == {"error": "the answer was blocked by the guard: S1"}
    record = audit_lines(tmp_path)[-1]
    assert record["guard_cut"] == {"text_chunks_sent": 0} and record["tokens"]["completion"] == 6


@pytest.mark.parametrize("window, received", [
    # Window of 1: each event is read before it goes out: nothing unsafe reaches the client.
    (1, ["one", " two"]),
    # Window of 2: "one two" is screened safe and sent; " UNSAFE-S1" goes out before its window is full (the
    # trade-off: up to stream_window - 1 events reach the client unscreened); " four" completes the window, the
    # guard reads " UNSAFE-S1 four", and " four" is withheld.
    (2, ["one", " two", " UNSAFE-S1"]),
])
def test_a_stream_that_turns_unsafe_is_cut_with_an_ollama_error_line(env, window, received):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        lines = []
        async with client.post("/api/generate", json={"model": "llama3.2", "prompt": "TURN"},
                               headers={"Authorization": "Bearer " + token()}) as resp:
            async for line in resp.content:
                lines.append(json.loads(line))
        return lines

    lines = run_guarded(config, scenario, stream_window=window)
    assert [line.get("response") for line in lines[:-1]] == received
    assert lines[-1] == {"error": "the answer was blocked by the guard: S1"}
    record = audit_lines(tmp_path)[-1]
    assert record["guard_cut"] == {"text_chunks_sent": len(received)}
    assert record["response_hmac"] == gp.hmac_hex(b"a" * 48, "".join(received))  # what the client received


def test_an_openai_stream_is_cut_with_an_sse_error_event(env):
    _tmp, config = env

    async def scenario(client, gateway, fake):
        async with client.post("/v1/chat/completions", json={"model": "llama3.2", "stream": True,
                                                             "messages": [{"role": "user", "content": "TURN"}]},
                               headers={"Authorization": "Bearer " + token()}) as resp:
            return (await resp.read()).decode()

    events = [block[len("data: "):] for block in run_guarded(config, scenario).strip().split("\n\n")]
    assert "[DONE]" not in events and len(events) == 4
    assert json.loads(events[-1])["error"]["message"] == "the answer was blocked by the guard: S1"


@pytest.mark.parametrize("fail_mode, status, action", [("closed", 503, "block"), ("open", 200, "flag")])
def test_a_slow_guard_follows_the_fail_mode(env, fail_mode, status, action):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        return await post(client, "/api/generate", {"model": "llama3.2", "prompt": "SLOW", "stream": False}, token())

    result = run_guarded(config, scenario, fail_mode=fail_mode, screen=["prompt"])
    assert result[0] == status
    entry = audit_lines(tmp_path)[-1]["guard"][0]
    assert (entry["verdict"], entry["action"], entry["error"]) == ("error", action, "timeout after 1 s")


@pytest.mark.parametrize("prompt, role, action", [
    ("UNSAFE-S6", "inference_consumer", "flag"),  # a category that only flags
    ("UNSAFE-S1", "prompt_engineer", "flag"),  # a role overridden to flag
])
def test_flagged_requests_pass_and_are_audited(env, prompt, role, action):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        return await post(client, "/api/generate", {"model": "llama3.2", "prompt": prompt, "stream": False},
                          token(role=role))

    assert run_guarded(config, scenario, screen=["prompt"])[0] == 200
    entry = audit_lines(tmp_path)[-1]["guard"][0]
    assert (entry["verdict"], entry["action"]) == ("unsafe", action)


def test_embeddings_and_model_routes_are_not_screened(env):
    tmp_path, config = env

    async def scenario(client, gateway, fake):
        await post(client, "/api/tags", None, token())
        return fake.guard_calls

    assert run_guarded(config, scenario) == []


@pytest.mark.parametrize("change, message", [
    ({"protocol": "other"}, "auth_gateway_guard_protocol must be one of"),
    ({"model": ""}, "auth_gateway_guard_model must name"),
    ({"block_categories": ["S99"]}, "auth_gateway_guard_block_categories must be Llama Guard 3 codes"),
    ({"screen": ["everything"]}, "auth_gateway_guard_screen must list"),
    ({"role_overrides": {"red_team": "flag"}}, "auth_gateway_guard_role_overrides"),
    ({"fail_mode": "maybe"}, "auth_gateway_guard_fail_mode"),
    ({"stream_window": 0}, "auth_gateway_guard_stream_window"),
])
def test_bad_guard_settings_are_refused_by_name(env, change, message):
    _tmp, config = env
    config["guard"] = dict(GUARD, **change)
    config["upstream"] = "http://127.0.0.1:9"
    with pytest.raises(gw.ConfigError, match=message):
        gw.Settings(config)


@pytest.mark.parametrize("journal", [False, True])
def test_audit_records_go_to_the_journal_too_when_asked(tmp_path, capfd, journal):
    """With audit_journal, each record is written to the file and, byte for byte, to stdout (the journal, where a
    forwarder ships it); without, stdout stays empty."""
    log = gw.AuditLog(str(tmp_path / "audit.log"), journal)
    records = [gp.audit_record(request_id="r%d" % index, prompt_hmac="x" * 64) for index in range(3)]
    for record in records:
        log.write(record)
    assert (tmp_path / "audit.log").read_text() == "".join(record + "\n" for record in records)
    assert capfd.readouterr().out == ("".join(record + "\n" for record in records) if journal else "")
