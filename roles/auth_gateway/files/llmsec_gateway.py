# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""llmsec auth gateway: JWT, roles, rate limits and an audit trail in front of Ollama.

Installed by the auth_gateway role into its own venv (aiohttp, PyJWT,
cryptography, prometheus_client). The decisions - claims, roles, models,
buckets, what is hashed - are the collection's module_utils, installed
beside this file. usage:

    llmsec_gateway.py serve CONFIG       run (systemd does this)
    llmsec_gateway.py check CONFIG       load the configuration and keys, exit 0 or 2
    llmsec_gateway.py hmac CONFIG        print the audit HMAC of the text on stdin
    llmsec_gateway.py guard-check UPSTREAM MODEL
                                         exit 0 when Ollama at UPSTREAM serves the guard MODEL, else 2
"""

import asyncio
import gc
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import aiohttp  # noqa: E402  pylint: disable=wrong-import-position
import jwt  # noqa: E402  pylint: disable=wrong-import-position
import prometheus_client as prom  # noqa: E402  pylint: disable=wrong-import-position
from aiohttp import web  # noqa: E402  pylint: disable=wrong-import-position
from cryptography.hazmat.primitives import serialization  # noqa: E402  pylint: disable=wrong-import-position

import change_window  # noqa: E402  pylint: disable=wrong-import-position
import gateway_policy as gp  # noqa: E402  pylint: disable=wrong-import-position
import guard_model  # noqa: E402  pylint: disable=wrong-import-position
import ollama_api as oa  # noqa: E402  pylint: disable=wrong-import-position
import ratelimit  # noqa: E402  pylint: disable=wrong-import-position
from yarl import URL  # noqa: E402  pylint: disable=wrong-import-position

# Headers of the client that go on to Ollama; every other one ends here. The body's
# type is ours to say, since the body is ours (the canonical re-serialisation).
FORWARDED_HEADERS = ("Accept", "User-Agent")
RESPONSE_HEADERS = ("Content-Type", "Cache-Control", "Content-Disposition")
JSON_PARSE_LIMIT = 8 * 1024 * 1024
# One answer for every token failure: the reason is in the log and the metrics only.
UNAUTHORIZED = "invalid or missing bearer token"
# A refused body is read (and dropped) up to this much before the 413; nginx sends at most its own limit.
DISCARD_LIMIT = 64 * 1024 * 1024
# Bodies up to this size are parsed on the event loop; larger ones in worker threads.
INLINE_PARSE = 16 * 1024
# systemd socket activation: the first passed descriptor.
SD_LISTEN_FDS_START = 3


class ConfigError(Exception):
    pass


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

def read_secret(config, name):
    """A secret file from $CREDENTIALS_DIRECTORY (systemd LoadCredential=) when set, else from credentials_dir."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY") or config.get("credentials_dir")
    if not directory:
        raise ConfigError("no credentials_dir in the configuration for secret %s" % name)
    try:
        with open(os.path.join(directory, name), "rb") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise ConfigError("cannot read secret %s: %s" % (name, exc.strerror))


def load_key(key, config):
    """A verification key object for PyJWT, checked against its algorithm."""
    alg = key["alg"]
    if alg == "HS256":
        secret = key["secret"].encode("utf-8") if key.get("secret") else read_secret(config, key["secret_credential"])
        if len(secret) < 32:
            raise ConfigError("key %s: the HS256 secret must be at least 32 bytes" % key["kid"])
        return secret
    try:
        public = serialization.load_pem_public_key(key["public_key"].encode("ascii"))
        gp.check_key_type(public, alg)
    except (ValueError, gp.PolicyError) as exc:
        raise ConfigError("key %s: %s" % (key["kid"], exc))
    return public


class Settings:
    def __init__(self, config):
        try:
            self.auth = config.get("auth", "jwt")
            if self.auth not in gp.AUTH_MODES:
                raise ConfigError("auth must be one of %s, not %r" % (", ".join(gp.AUTH_MODES), self.auth))
            self.issuer = config.get("issuer")
            self.audience = config.get("audience")
            self.max_ttl = int(config.get("max_ttl", gp.DEFAULT_MAX_TTL))
            self.leeway = int(config.get("leeway", gp.DEFAULT_LEEWAY))
            self.keys = {}
            self.identity_default_role = config.get("identity_default_role", "")
            self.identities = gp.parse_identities(config.get("identities") or {}, self.identity_default_role)
            if self.auth == "jwt":
                if not self.issuer or not self.audience:
                    raise ConfigError("auth jwt needs issuer and audience")
                self.keys = gp.parse_keys(config["keys"])
                for key in self.keys.values():
                    key["object"] = load_key(key, config)
            elif not self.identities and not self.identity_default_role:
                raise ConfigError("auth proxy needs identities or identity_default_role")
            self.policy = {
                "role_actions": gp.parse_role_actions(config.get("role_actions")),
                "role_models": {role: [gp.validate_pattern(p, "role_models." + role) for p in patterns]
                                for role, patterns in (config.get("role_models") or {}).items()},
                "create_bases": [gp.validate_pattern(p, "create_bases") for p in config.get("create_bases", [])],
                "pull_registries": list(config.get("pull_registries", [gp.DEFAULT_REGISTRY])),
                "allow_insecure_pull": bool(config.get("allow_insecure_pull", False)),
                "create_targets": gp.parse_create_targets(config.get("create_targets") or {}),
                "create_remote_hosts": gp.parse_create_remote_hosts(config.get("create_remote_hosts") or []),
                "allow_cloud_models": bool(config.get("allow_cloud_models", False)),
                "change_window": bool(config.get("change_window", True)),
            }
            self.change_window_file = config.get("change_window_file", change_window.DEFAULT_PATH)
            self.upstream = config.get("upstream", "http://127.0.0.1:11434").rstrip("/")
            self.listen = config.get("listen", "127.0.0.1")
            self.port = int(config.get("port", 11435))
            self.metrics_listen = config.get("metrics_listen", "127.0.0.1")
            self.metrics_port = int(config.get("metrics_port", 9470))
            self.requests = int(config.get("requests_per_window", 60))
            self.request_window = float(config.get("request_window", 60))
            self.token_budget = int(config.get("token_budget", 200000))
            self.token_window = float(config.get("token_window", 3600))
            self.max_concurrent = int(config.get("max_concurrent", 4))
            self.socket = config.get("socket")
            self.queue_timeout = float(config.get("queue_timeout", 30))
            self.max_body = int(config.get("max_body", 2 * 1024 * 1024))
            self.body_timeout = float(config.get("body_timeout", 30))
            self.max_concurrent_per_subject = int(config.get("max_concurrent_per_subject", 0)) or \
                max(1, self.max_concurrent // 2)
            self.default_completion = int(config.get("default_completion_estimate", 512))
            self.parsers = int(config.get("parsers", 2))
            self.connect_timeout = float(config.get("connect_timeout", 5))
            self.upstream_timeout = float(config.get("upstream_timeout", 600))
            self.audit_log = config["audit_log"]
            self.audit_key = read_secret(config, config.get("audit_key_credential", "audit-hmac"))
            self.audit_key_id = config.get("audit_key_id", "1")
            self.audit_journal = bool(config.get("audit_journal", False))
            self.trusted_proxies = set(config.get("trusted_proxies", ["127.0.0.1", "::1"]))
            self.guard = gp.parse_guard(config.get("guard"), self.upstream)
        except gp.PolicyError as exc:
            raise ConfigError(str(exc))
        except (KeyError, TypeError) as exc:
            raise ConfigError("configuration: missing or wrong %s" % exc)
        if len(self.audit_key) < 32:
            raise ConfigError("the audit HMAC key must be at least 32 bytes")


# --------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------

class Metrics:
    def __init__(self):
        self.registry = prom.CollectorRegistry()
        self.requests = prom.Counter("llmsec_gateway_requests", "Requests by endpoint, role and status",
                                     ["endpoint", "role", "status"], registry=self.registry)
        self.auth_failures = prom.Counter("llmsec_gateway_auth_failures", "Authentication failures by reason",
                                          ["reason"], registry=self.registry)
        self.denied = prom.Counter("llmsec_gateway_denied", "Authenticated requests refused by reason",
                                   ["reason", "role"], registry=self.registry)
        self.rate_limited = prom.Counter("llmsec_gateway_rate_limited", "Requests refused by a limit",
                                         ["limit"], registry=self.registry)
        self.tokens = prom.Counter("llmsec_gateway_llm_tokens", "LLM tokens counted from Ollama's replies",
                                   ["role", "kind"], registry=self.registry)
        self.latency = prom.Histogram("llmsec_gateway_request_duration_seconds", "Request latency",
                                      ["endpoint"], registry=self.registry,
                                      buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300))
        self.in_flight = prom.Gauge("llmsec_gateway_in_flight_requests", "Requests being served",
                                    registry=self.registry)
        self.upstream_errors = prom.Counter("llmsec_gateway_upstream_errors", "Ollama unreachable or too slow",
                                            ["kind"], registry=self.registry)
        self.guard_verdicts = prom.Counter("llmsec_gateway_guard_verdicts", "Guard model verdicts by direction, "
                                           "verdict (safe, unsafe, error) and action (pass, flag, block)",
                                           ["direction", "verdict", "action", "role"], registry=self.registry)
        self.guard_unsafe = prom.Counter("llmsec_gateway_guard_unsafe", "Unsafe guard verdicts by subject",
                                         ["subject", "role"], registry=self.registry)
        self.guard_latency = prom.Histogram("llmsec_gateway_guard_duration_seconds", "Guard model latency per "
                                            "screening (all its chunks)", ["direction"], registry=self.registry,
                                            buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))

    def render(self):
        return prom.generate_latest(self.registry)


# --------------------------------------------------------------------------
# Audit log: one JSON line per request, texts as HMACs only
# --------------------------------------------------------------------------

class AuditLog:
    """The audit log file; with journal, each record also goes to stdout, which systemd hands to the journal
    (identifier llmsec-gateway), where a forwarder ships it off the host."""

    def __init__(self, path, journal=False):
        self.path = path
        self.journal = journal
        self.fd = None
        self.reopen()

    def reopen(self):
        old = self.fd
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        if old is not None:
            os.close(old)

    def write(self, line):
        data = line.encode("utf-8") + b"\n"
        os.write(self.fd, data)
        if self.journal:
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]

    def search(self, needle, limit=100):
        matches = []
        for path in (self.path + ".1", self.path):
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    for line in handle:
                        if needle in line:
                            matches.append(json.loads(line))
                            if len(matches) >= limit:
                                return matches
            except (OSError, ValueError):
                continue
        return matches


class Meter:
    """Counts LLM tokens and HMACs the generated text of a reply as it streams past."""

    def __init__(self, key):
        self.mode = "json"
        self.buffer = b""
        self.mac = hmac.new(key, digestmod=hashlib.sha256)
        self.prompt = 0
        self.completion = 0
        self.text_chunks = 0
        self.overflow = False
        self.started = False
        self.done = False
        self.guard = None
        self.unscreened = []  # the answer's text since the guard last read it (only with a ResponseGuard)

    def mark(self):
        """What the client has received so far, to rewind to when a chunk is withheld."""
        return self.mac.copy(), self.text_chunks, self.completion

    def rewind(self, mark):
        self.mac, self.text_chunks, self.completion = mark[0], mark[1], mark[2]

    def content_type(self, value):
        self.mode = "sse" if "event-stream" in value else ("lines" if "ndjson" in value else "json")

    def feed(self, data):
        if self.mode == "json":
            if len(self.buffer) + len(data) > JSON_PARSE_LIMIT:
                self.overflow = True
                self.buffer = b""
            elif not self.overflow:
                self.buffer += data
            return
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 1:]
            self._line(line)

    def _line(self, line):
        line = line.strip()
        if self.mode == "sse":
            if not line.startswith(b"data:"):
                return
            line = line[5:].strip()
            if line == b"[DONE]":
                self.done = True
                return
        if line:
            self._object(line)

    def _object(self, raw):
        try:
            chunk = json.loads(raw)
        except ValueError:
            return
        text = gp.response_text(chunk)
        if text:
            self.mac.update(text.encode("utf-8"))
            if self.guard is not None:
                self.unscreened.append(text)
        if text or gp.response_thinking(chunk):
            self.text_chunks += 1
        self.done = self.done or gp.response_done(chunk)
        prompt, completion = gp.response_tokens(chunk)
        self.prompt += prompt
        self.completion += completion

    def close(self):
        if self.mode == "json":
            if self.buffer and not self.overflow:
                self._object(self.buffer)
        elif self.buffer:
            self._line(self.buffer)
        self.buffer = b""
        return self.mac.hexdigest()

    def charge(self, estimate):
        """(prompt, completion) to charge: what Ollama reported, else the estimate; never 0.

        A finished answer without counts (/v1 streams without usage) is one token a
        chunk, as Ollama streams; an unfinished one (the client left, an answer too
        large to meter, an error) is charged at least the reservation.
        """
        prompt = self.prompt or estimate[0]
        completion = self.completion
        if not completion:
            completion = self.text_chunks if self.done and not self.overflow else max(self.text_chunks, estimate[1])
        return prompt, completion


# --------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------

def error(status, message, headers=None):
    return web.json_response({"error": message}, status=status, headers=headers)


class Gateway:
    def __init__(self, settings):
        self.settings = settings
        self.window = change_window.Watcher(settings.change_window_file)
        self.metrics = Metrics()
        self.audit = AuditLog(settings.audit_log, settings.audit_journal)
        self.request_buckets = ratelimit.KeyedBuckets(settings.requests, settings.request_window)
        self.token_buckets = ratelimit.KeyedBuckets(settings.token_budget, settings.token_window)
        self.gpu = asyncio.Semaphore(settings.max_concurrent)
        self.subject_slots = {}
        self.parser = ThreadPoolExecutor(settings.parsers, thread_name_prefix="parse")
        self.token_cache = OrderedDict()
        self.session = None
        # The guard's own cap and threads: guarding waits for these, never for the worker's slots.
        if settings.guard:
            self.guard_slots = asyncio.Semaphore(settings.guard["max_concurrent"])
            self.guard_pool = ThreadPoolExecutor(settings.guard["max_concurrent"], thread_name_prefix="guard")

    # -- authentication ------------------------------------------------------
    def authenticate(self, request):
        if self.settings.auth == "proxy":
            return self.proxy_identity(request)
        header = request.headers.get("Authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise gp.Denied(401, "missing", UNAUTHORIZED)
        token = token.strip()
        claims = self.token_cache.get(token)
        if claims is None:
            try:
                key = gp.select_key(jwt.get_unverified_header(token), self.settings.keys)
                claims = jwt.decode(token, key["object"], algorithms=[key["alg"]], options={
                    "verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False,
                    "verify_iss": False})
            except jwt.InvalidSignatureError:
                raise gp.Denied(401, "bad_signature", UNAUTHORIZED)
            except jwt.InvalidTokenError:
                raise gp.Denied(401, "malformed", UNAUTHORIZED)
            self.token_cache[token] = claims
            if len(self.token_cache) > 4096:
                self.token_cache.popitem(last=False)
        return gp.check_claims(claims, time.time(), self.settings.issuer, self.settings.audience,
                               self.settings.max_ttl, self.settings.leeway)

    def proxy_identity(self, request):
        """auth proxy: the identity nginx authenticated, from the header nginx sets and
        the client cannot (nginx replaces it). Trusted only on the Unix socket."""
        if not self.on_unix_socket(request):
            raise gp.Denied(401, "untrusted_transport", "identities are taken only on the gateway's socket")
        return gp.identity_claims(self.settings.identities, self.settings.identity_default_role,
                                  request.headers.getall(gp.IDENTITY_HEADER, []))

    @staticmethod
    def on_unix_socket(request):
        sock = request.transport.get_extra_info("socket") if request.transport else None
        return sock is not None and sock.family == socket.AF_UNIX

    # -- request handling ----------------------------------------------------
    async def handle(self, request):
        started = time.monotonic()
        record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                  "method": request.method, "endpoint": "other", "client": self.client_address(request),
                  "key_id": self.settings.audit_key_id}
        role = "none"
        self.metrics.in_flight.inc()
        status = 500
        try:
            try:
                claims = self.authenticate(request)
            except gp.Denied as denied:
                self.metrics.auth_failures.labels(denied.reason).inc()
                if denied.subject:
                    record["subject"] = denied.subject
                raise
            role = claims["role"]
            record.update(subject=claims["sub"], role=role)
            if claims.get("jti"):
                record["jti"] = claims["jti"]
            now = time.monotonic()
            wait = self.request_buckets.get(claims["sub"], now).take(now)
            if wait:
                self.metrics.rate_limited.labels("requests").inc()
                raise _Limited("requests", wait)
            # What is decided on is what is forwarded: the canonical path, and the body
            # as Ollama's decoder reads it, re-serialised.
            path = self.canonical_path(request)
            action, endpoint = gp.classify(request.method, path)
            record["endpoint"] = endpoint
            body, data = None, None
            if action != "blobs" and path in oa.ROUTE_STRUCTS:
                body, data, dropped = await self.read_json(request, oa.ROUTE_STRUCTS[path])
                if dropped:
                    record["dropped_fields"] = dropped
            # The window's file is looked at only for the routes it opens, not on every inference request.
            window_open = action in gp.WINDOW_ACTIONS and self.window.is_open()
            action, endpoint, models = gp.authorize(self.settings.policy, claims, request.method, path, body,
                                                    window_open=window_open)
            record.update(action=action, models=models)
            if action == "blobs":
                data = request.content
            if action == "metrics":
                response = web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")
            elif action == "audit":
                response = await self.audit_verify(body)
            elif action == "inference":
                response = await self.inference(request, path, body, data, claims, record)
            else:
                if body and path in ("/api/show", "/api/create", "/api/push", "/api/pull"):
                    record["prompt_hmacs"] = [gp.hmac_hex(self.settings.audit_key, text)
                                              for text in gp.prompt_texts(body)]
                response = await self.proxy(request, path, data, None)
            status = response.status
            return response
        except _Limited as limited:
            status = 429
            record["reason"] = limited.limit
            return error(429, "rate limit: %s" % limited.limit,
                         {"Retry-After": ratelimit.retry_after_header(limited.wait)})
        except gp.Denied as denied:
            status = denied.status
            record["reason"] = denied.reason
            headers = None
            message = str(denied)
            if status == 401 and self.settings.auth == "jwt":
                headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                message = UNAUTHORIZED
            elif status in (400, 403, 404, 413):
                self.metrics.denied.labels(denied.reason, role).inc()
            return error(status, message, headers)
        except _GuardFailed:
            status = 503
            record["reason"] = "guard_unavailable"
            return error(503, "the guard model is unavailable")
        except _Upstream as upstream:
            status = upstream.status
            record["reason"] = upstream.kind
            self.metrics.upstream_errors.labels(upstream.kind).inc()
            return error(status, "Ollama is %s" % ("unreachable" if status == 502 else "not answering in time"))
        except asyncio.CancelledError:
            status = 499
            record["reason"] = "client_closed"
            raise
        finally:
            elapsed = time.monotonic() - started
            self.metrics.in_flight.dec()
            self.metrics.requests.labels(record["endpoint"], role, str(status)).inc()
            self.metrics.latency.labels(record["endpoint"]).observe(elapsed)
            record.update(status=status, latency_ms=round(elapsed * 1000, 1))
            self.audit.write(gp.audit_record(**record))

    @staticmethod
    def canonical_path(request):
        try:
            return oa.canonical_path(request.raw_path)
        except oa.Refused as refused:
            raise gp.Denied(refused.status, "bad_path", str(refused))

    def client_address(self, request):
        """The client nginx saw. Only nginx can open the Unix socket, so there its
        X-Forwarded-For is the truth; on TCP only from a trusted proxy."""
        peer = request.remote or ""
        forwarded = request.headers.get("X-Forwarded-For")
        trusted = self.on_unix_socket(request) or peer in self.settings.trusted_proxies
        if forwarded and trusted:
            return forwarded.split(",")[-1].strip()
        return peer or "unix"

    async def read_json(self, request, struct):
        """The body, read within the size and time limits, decoded as Ollama decodes it."""
        try:
            raw = await asyncio.wait_for(self.read_body(request), self.settings.body_timeout)
        except asyncio.TimeoutError:
            raise gp.Denied(408, "body_timeout", "the request body did not arrive within %g s"
                            % self.settings.body_timeout)
        try:
            if len(raw) <= INLINE_PARSE:
                return oa.read_body(raw, struct)  # well under a millisecond
            # Larger bodies are parsed in the pool's few worker threads, so that one
            # cannot hold the event loop that serves everybody else.
            return await asyncio.get_running_loop().run_in_executor(self.parser, oa.read_body, raw, struct)
        except oa.Refused as refused:
            raise gp.Denied(refused.status, "bad_body" if refused.status == 400 else "too_large", str(refused))

    async def read_body(self, request):
        if request.content_length is not None and request.content_length > self.settings.max_body:
            await self.discard(request)
            raise gp.Denied(413, "too_large", "request body over %d bytes" % self.settings.max_body)
        chunks, size = [], 0
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > self.settings.max_body:
                chunks = None
                await self.discard(request)
                raise gp.Denied(413, "too_large", "request body over %d bytes" % self.settings.max_body)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    async def discard(request):
        """Read what is left of a refused body and keep none of it (up to DISCARD_LIMIT), so
        that nginx, still sending it, gets the 413 rather than a reset."""
        left = DISCARD_LIMIT
        while left > 0:
            chunk = await request.content.readany()
            if not chunk:
                return
            left -= len(chunk)
        request.transport.close()  # more than nginx would send: not a proxied request

    async def audit_verify(self, body):
        text = (body or {}).get("text")
        if not isinstance(text, str) or not text:
            raise gp.Denied(400, "bad_request", "send {\"text\": \"...\"}")
        digest = gp.hmac_hex(self.settings.audit_key, text)
        matches = await asyncio.get_running_loop().run_in_executor(None, self.audit.search, digest)
        return web.json_response({"hmac": digest, "key_id": self.settings.audit_key_id,
                                  "sent": any(digest in record.get("prompt_hmacs", []) for record in matches),
                                  "answered": any(digest == record.get("response_hmac") for record in matches),
                                  "records": matches})

    # -- inference: slots, budget, metering ----------------------------------
    async def acquire_slots(self, subject):
        """A slot of the subject's share, then one of the host's. Waiting for the
        first holds none of the second, so one subject cannot starve the rest."""
        entry = self.subject_slots.get(subject)
        if entry is None:
            entry = self.subject_slots[subject] = [asyncio.Semaphore(self.settings.max_concurrent_per_subject), 0]
        entry[1] += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.queue_timeout
        held = False
        try:
            await asyncio.wait_for(entry[0].acquire(), self.settings.queue_timeout)
            held = True
            await asyncio.wait_for(self.gpu.acquire(), max(0.0, deadline - loop.time()))
            return entry
        except BaseException as exc:
            self.release_slots(subject, entry, subject_slot=held, host_slot=False)
            if isinstance(exc, asyncio.TimeoutError):
                self.metrics.rate_limited.labels("concurrency").inc()
                raise _Limited("concurrency", 1) from None
            raise

    def release_slots(self, subject, entry, subject_slot=True, host_slot=True):
        if host_slot:
            self.gpu.release()
        if subject_slot:
            entry[0].release()
        entry[1] -= 1
        if entry[1] == 0 and self.subject_slots.get(subject) is entry:
            del self.subject_slots[subject]

    async def inference(self, request, path, body, data, claims, record):
        subject = claims["sub"]
        now = time.monotonic()
        budget = self.token_buckets.get(subject, now)
        wait = budget.available(now)
        if wait:
            self.metrics.rate_limited.labels("tokens").inc()
            raise _Limited("tokens", wait)
        texts = gp.prompt_texts(body)
        record["prompt_hmacs"] = [gp.hmac_hex(self.settings.audit_key, text) for text in texts]
        guard = self.settings.guard if path in gp.GUARD_ROUTES else None
        prompt = "\n\n".join(texts) if guard else ""
        # Before any slot or reservation: a blocked request costs the user nothing.
        if guard and "prompt" in guard["screen"] and prompt:
            await self.screen("prompt", prompt, None, claims, record)
        entry = await self.acquire_slots(subject)
        meter = Meter(self.settings.audit_key)
        if guard and "response" in guard["screen"]:
            meter.guard = ResponseGuard(self, prompt[-guard["chunk_chars"]:], claims, record, path)
        estimate = gp.estimate_tokens(path, body, self.settings.default_completion)
        # Reserve before forwarding, with no await in between: concurrent requests
        # of one subject see each other's reservations.
        now = time.monotonic()
        wait = budget.available(now)
        if wait:
            self.release_slots(subject, entry)
            self.metrics.rate_limited.labels("tokens").inc()
            raise _Limited("tokens", wait)
        budget.debit(now, sum(estimate))
        free = False  # Ollama did no work: refused it (4xx/5xx) or never had it
        try:
            response = await self.proxy(request, path, data, meter)
            # An answer the guard stopped was generated: it is charged like any other.
            free = response.status >= 400 and "guard_cut" not in record
            return response
        except _Upstream:
            free = True
            raise
        finally:
            self.release_slots(subject, entry)
            if meter.started:
                record["response_hmac"] = meter.close()
            charged = (0, 0) if free else meter.charge(estimate)
            budget.settle(time.monotonic(), sum(estimate), sum(charged))
            record["tokens"] = {"prompt": charged[0], "completion": charged[1]}
            if not free and not meter.completion:
                record["tokens_estimated"] = True
            self.metrics.tokens.labels(claims["role"], "prompt").inc(charged[0])
            self.metrics.tokens.labels(claims["role"], "completion").inc(charged[1])

    async def screen(self, direction, text, answer, claims, record):
        """The guard's verdict on text (or on answer to it), acted on: returns the action (pass, flag);
        raises Denied (403, the categories) or _GuardFailed (503) for block. Recorded and counted, never text."""
        guard = self.settings.guard
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await asyncio.wait_for(self.guard_slots.acquire(), guard["timeout"])
        except asyncio.TimeoutError:
            verdict = {"model": guard["model"], "verdict": "error", "error": "guard busy",
                       "latency_ms": int((loop.time() - started) * 1000)}
        else:
            try:
                left = dict(guard, timeout=max(0.1, guard["timeout"] - (loop.time() - started)))
                verdict = await loop.run_in_executor(self.guard_pool, guard_model.screen, left, text, answer)
            finally:
                self.guard_slots.release()
        action = gp.guard_action(guard, claims["role"], verdict)
        record.setdefault("guard", []).append(gp.guard_record(direction, verdict, action))
        self.metrics.guard_verdicts.labels(direction, verdict["verdict"], action, claims["role"]).inc()
        self.metrics.guard_latency.labels(direction).observe(loop.time() - started)
        if verdict["verdict"] == "unsafe":
            self.metrics.guard_unsafe.labels(claims["sub"], claims["role"]).inc()
        if action == "block":
            if verdict["verdict"] == "error":
                raise _GuardFailed()
            raise gp.Denied(403, "guard", gp.guard_message(direction, verdict))
        return action

    async def proxy(self, request, path, data, meter):
        headers = {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}
        # Plain bytes back: what is metered and screened is what the client gets.
        headers["Accept-Encoding"] = "identity"
        if isinstance(data, bytes):
            headers["Content-Type"] = "application/json"
        elif data is not None:
            headers["Content-Type"] = "application/octet-stream"
        timeout = aiohttp.ClientTimeout(total=None, connect=self.settings.connect_timeout,
                                        sock_read=self.settings.upstream_timeout)
        response = None
        try:
            # encoded=True: the path goes out byte for byte as it was checked.
            async with self.session.request(request.method, URL(self.settings.upstream + path, encoded=True),
                                            data=data, headers=headers, timeout=timeout,
                                            allow_redirects=False, auto_decompress=False) as upstream:
                response = web.StreamResponse(status=upstream.status)
                for name in RESPONSE_HEADERS + ("Content-Encoding",):
                    if name in upstream.headers:
                        response.headers[name] = upstream.headers[name]
                if meter is not None:
                    meter.content_type(upstream.headers.get("Content-Type", ""))
                    meter.started = True
                guard = meter.guard if meter is not None and upstream.status == 200 else None
                if guard is not None and meter.mode == "json":
                    # A whole answer: read it all, screen it, then send it as it came or refuse it.
                    body = await upstream.read()
                    meter.feed(body)
                    meter.close()  # parses it: the text is there to screen
                    refusal = await guard.check(meter, final=True)
                    if refusal is not None:
                        guard.cut(meter)
                        return error(*refusal)
                    response.content_length = len(body)
                    await response.prepare(request)
                    await response.write(body)
                    await response.write_eof()
                    return response
                await response.prepare(request)
                if guard is not None:
                    await self.guarded_stream(upstream, response, meter, guard, path)
                    return response
                async for chunk in upstream.content.iter_any():
                    if meter is not None:
                        meter.feed(chunk)
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            if response is not None and response.prepared:
                raise
            raise _Upstream(502, "unreachable") from exc
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            if response is not None and response.prepared:
                raise
            raise _Upstream(504, "timeout") from exc

    @staticmethod
    async def guarded_stream(upstream, response, meter, guard, path):
        """A stream under response screening, event by event (an NDJSON line, an SSE event): every
        stream_window text events and at the end the guard reads the text first, then the event goes out;
        on a block the stream ends with an error event in the API's format, and the meter is rewound to
        what the client received."""
        separator = b"\n\n" if meter.mode == "sse" else b"\n"
        pending = b""
        done = False
        while not done:
            chunk = await upstream.content.readany()
            done = not chunk
            pending += chunk
            if done:
                events, pending = [pending] if pending else [], b""
            else:
                *events, pending = pending.split(separator)
                events = [event + separator for event in events]
            for event in events:
                sent = meter.mark()
                meter.feed(event)
                refusal = await guard.check(meter, final=done)
                if refusal is not None:
                    meter.rewind(sent)
                    guard.cut(meter)
                    await response.write(gp.guard_stream_error(path, refusal[1]))
                    await response.write_eof()
                    return
                await response.write(event)
        await response.write_eof()

    # -- lifecycle -----------------------------------------------------------
    async def start(self, app):
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def stop(self, app):
        await self.session.close()
        self.parser.shutdown(wait=False)


class ResponseGuard:
    """Screens an answer as it passes: the whole of a non-streamed one; a stream every stream_window text
    chunks and at its end, each time the text since the last screening plus an overlap of what came before."""

    OVERLAP = 200

    def __init__(self, gateway, prompt, claims, record, path):
        self.gateway = gateway
        self.prompt = prompt
        self.claims = claims
        self.record = record
        self.path = path
        self.tail = ""

    async def check(self, meter, final=False):
        """None to go on; (status, message) for the client when the guard blocks (a stream is then cut)."""
        window = self.gateway.settings.guard["stream_window"]
        if not meter.unscreened or not (final or meter.done or len(meter.unscreened) >= window):
            return None
        text = "".join(meter.unscreened)
        meter.unscreened = []
        answer = self.tail + text
        self.tail = answer[-self.OVERLAP:]
        try:
            await self.gateway.screen("response", self.prompt, answer, self.claims, self.record)
        except gp.Denied as denied:
            return denied.status, str(denied)
        except _GuardFailed:
            return 503, "the guard model is unavailable"
        return None

    def cut(self, meter):
        """Record how much of the answer the client received before the guard stopped it."""
        self.record["guard_cut"] = {"text_chunks_sent": meter.text_chunks if meter.mode != "json" else 0}


class _GuardFailed(Exception):
    """The guard gave no verdict and fail_mode is closed."""


class _Limited(Exception):
    def __init__(self, limit, wait):
        super().__init__(limit)
        self.limit = limit
        self.wait = wait


class _Upstream(Exception):
    def __init__(self, status, kind):
        super().__init__(kind)
        self.status = status
        self.kind = kind


def build_apps(settings):
    gateway = Gateway(settings)
    app = web.Application(client_max_size=settings.max_body)
    app.router.add_route("*", "/{tail:.*}", gateway.handle)
    app.on_startup.append(gateway.start)
    app.on_cleanup.append(gateway.stop)

    async def metrics(_request):
        return web.Response(body=gateway.metrics.render(), content_type="text/plain", charset="utf-8")

    async def healthz(_request):
        return web.Response(text="ok\n")

    metrics_app = web.Application()
    metrics_app.router.add_get("/metrics", metrics)
    metrics_app.router.add_get("/healthz", healthz)
    return gateway, app, metrics_app


def load_settings(path):
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError("cannot read %s: %s" % (path, exc))
    return Settings(config)


def listen_fds():
    """The sockets systemd passed (socket activation), or []."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    count = int(os.environ.get("LISTEN_FDS", "0"))
    return [socket.socket(fileno=SD_LISTEN_FDS_START + index) for index in range(count)]


def api_site(runner, settings):
    """The public API: the Unix socket systemd made (only nginx's user may open it),
    else the socket path or TCP address of the configuration (benchmarks, development)."""
    passed = listen_fds()
    if passed:
        return web.SockSite(runner, passed[0])
    if settings.socket:
        return web.UnixSite(runner, settings.socket, backlog=1024)
    return web.TCPSite(runner, settings.listen, settings.port, backlog=1024)


def metrics_site(runner, settings):
    return web.TCPSite(runner, settings.metrics_listen, settings.metrics_port)


async def serve(settings):
    # Bodies are parsed in worker threads; a short switch interval hands the GIL back to
    # the event loop within a millisecond, so a large body does not hold up other clients.
    sys.setswitchinterval(0.001)
    gateway, app, metrics_app = build_apps(settings)
    # What start-up built lives as long as the service: out of the collector's sight, and
    # collections far apart, so that no pause of tens of milliseconds holds up a stream.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50000, 20, 100)
    runners = []
    for application, site in ((app, api_site), (metrics_app, metrics_site)):
        # A client that goes away cancels its handler, which closes the
        # request to Ollama and stops the generation.
        runner = web.AppRunner(application, access_log=None, handler_cancellation=True)
        await runner.setup()
        await site(runner, settings).start()
        runners.append(runner)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, gateway.audit.reopen)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    notify("READY=1")
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


def notify(message):
    """sd_notify without libsystemd: Type=notify starts only once the ports listen."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    import socket  # pylint: disable=import-outside-toplevel
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode("ascii"))


def main(argv):
    if len(argv) == 4 and argv[1] == "guard-check":
        problem = guard_model.model_present(argv[2], argv[3])
        if problem:
            sys.stderr.write("auth_gateway_guard_model: %s\n" % problem)
            return 2
        print("%s is served" % argv[3])
        return 0
    if len(argv) != 3 or argv[1] not in ("serve", "check", "hmac"):
        sys.stderr.write(__doc__)
        return 2
    os.umask(0o027)
    try:
        settings = load_settings(argv[2])
    except ConfigError as exc:
        sys.stderr.write("llmsec-gateway: %s\n" % exc)
        return 2
    if argv[1] == "check":
        print("configuration ok: %d key(s), upstream %s" % (len(settings.keys), settings.upstream))
        return 0
    if argv[1] == "hmac":
        print(gp.hmac_hex(settings.audit_key, sys.stdin.read()))
        return 0
    try:
        import uvloop  # pylint: disable=import-outside-toplevel
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
