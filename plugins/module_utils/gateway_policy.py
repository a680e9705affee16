# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""Who may do what with the model: JWT claims, roles and the audit record.

Shared by the jwt_token module (which mints claims) and the auth_gateway
service (which checks them). Pure Python: signatures are PyJWT's business,
everything a signature does not prove is checked here.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import re
import secrets

try:
    from ansible_collections.llmsec.hardening.plugins.module_utils import guard_model
except ImportError:  # installed beside the gateway
    import guard_model

ROLES = ("inference_consumer", "prompt_engineer", "model_admin", "auditor")
ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")
DEFAULT_MAX_TTL = 900
DEFAULT_LEEWAY = 30
DEFAULT_REGISTRY = "registry.ollama.ai"
# How the gateway learns who asks: "jwt" checks a bearer token; "proxy" takes the
# identity nginx authenticated (basic user, client certificate subject) from
# IDENTITY_HEADER, which it trusts only on its Unix socket (only nginx can open it).
AUTH_MODES = ("jwt", "proxy")
IDENTITY_HEADER = "X-Llmsec-Identity"

# What each role may do by default. "create_from_base" is create limited to
# the allowed bases, with no uploaded files or adapters.
DEFAULT_ROLE_ACTIONS = {
    "inference_consumer": ["list", "inference"],
    "prompt_engineer": ["list", "inference", "show", "create_from_base"],
    "model_admin": ["list", "show", "pull", "push", "create", "copy", "delete", "blobs"],
    "auditor": ["metrics", "audit"],
}
ACTIONS = ("list", "inference", "show", "create_from_base", "create", "pull", "push", "copy", "delete",
           "blobs", "metrics", "audit")
# The model-management routes: with the policy's change_window on, they pass only while a
# change window is open on the host (module_utils/change_window.py), whoever asks.
WINDOW_ACTIONS = ("pull", "push", "create", "copy", "delete", "blobs")

# Ollama's routes (server/routes.go), grouped. Anything else is denied,
# including the account and cloud routes (/api/me, /api/experimental/...).
ROUTES = {
    ("GET", "/"): "list", ("HEAD", "/"): "list",
    ("GET", "/api/version"): "list", ("HEAD", "/api/version"): "list",
    ("GET", "/api/tags"): "list", ("HEAD", "/api/tags"): "list",
    ("GET", "/api/ps"): "list",
    ("GET", "/v1/models"): "list",
    ("POST", "/api/show"): "show",
    ("POST", "/api/generate"): "inference",
    ("POST", "/api/chat"): "inference",
    ("POST", "/api/embed"): "inference",
    ("POST", "/api/embeddings"): "inference",
    ("POST", "/v1/chat/completions"): "inference",
    ("POST", "/v1/completions"): "inference",
    ("POST", "/v1/embeddings"): "inference",
    ("POST", "/v1/responses"): "inference",
    ("POST", "/v1/messages"): "inference",
    ("POST", "/api/create"): "create",
    ("POST", "/api/pull"): "pull",
    ("POST", "/api/push"): "push",
    ("POST", "/api/copy"): "copy",
    ("DELETE", "/api/delete"): "delete",
    ("GET", "/llmsec/metrics"): "metrics",
    ("POST", "/llmsec/audit/verify"): "audit",
}
PREFIX_ROUTES = (
    (("GET",), "/v1/models/", "list"),
    (("POST", "HEAD"), "/api/blobs/", "blobs"),
)
MODEL_FIELDS = {
    "show": ("model", "name"),
    "inference": ("model",),
    "create": ("model", "name"),
    "pull": ("model", "name"),
    "push": ("model", "name"),
    "delete": ("model", "name"),
}
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_HOST_PART = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")


class PolicyError(ValueError):
    """A configuration or an input is wrong; the message names it."""


class Denied(Exception):
    """A request is refused. status is the HTTP status, reason a short metric label, subject who
    was refused when that is known before authentication succeeds (an identity with no role)."""

    def __init__(self, status, reason, message, subject=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.subject = subject


# --------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------

def build_claims(subject, role, ttl, issuer, audience, now, models=None, max_ttl=DEFAULT_MAX_TTL,
                 not_before=None, jti=None):
    """The claim set of a scoped, short-lived token, checked like the gateway checks it."""
    if not subject or not isinstance(subject, str):
        raise PolicyError("subject must be a non-empty string")
    if role not in ROLES:
        raise PolicyError("role must be one of %s, not %r" % (", ".join(ROLES), role))
    if not isinstance(ttl, int) or ttl <= 0:
        raise PolicyError("ttl must be a positive number of seconds")
    if ttl > max_ttl:
        raise PolicyError("ttl %d is over the lifetime cap max_ttl=%d" % (ttl, max_ttl))
    if not issuer:
        raise PolicyError("issuer must be set")
    if not audience:
        raise PolicyError("audience must be set")
    now = int(now)
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": int(not_before) if not_before is not None else now,
        "exp": now + ttl,
        "jti": jti or secrets.token_urlsafe(12),
        "role": role,
    }
    if models is not None:
        claims["models"] = [validate_pattern(pattern, "models") for pattern in models]
    return claims


def check_claims(claims, now, issuer, audience, max_ttl=DEFAULT_MAX_TTL, leeway=DEFAULT_LEEWAY):
    """Check a verified token's claims. Returns them; raises Denied(401, reason)."""
    def deny(reason, message):
        raise Denied(401, reason, message)

    if not isinstance(claims, dict):
        deny("malformed", "the token's payload is not an object")
    for name in ("exp", "iat"):
        value = claims.get(name)
        if value is None:
            deny("missing_claim", "the token has no %s" % name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            deny("malformed", "%s must be a number" % name)
    nbf = claims.get("nbf", claims["iat"])
    if isinstance(nbf, bool) or not isinstance(nbf, (int, float)):
        deny("malformed", "nbf must be a number")
    if claims["exp"] <= now - leeway:
        deny("expired", "the token has expired")
    if nbf > now + leeway:
        deny("not_yet_valid", "the token is not valid yet (nbf)")
    if claims["iat"] > now + leeway:
        deny("not_yet_valid", "the token was issued in the future (iat)")
    if claims["exp"] - claims["iat"] > max_ttl:
        deny("lifetime", "the token's lifetime exceeds %d s" % max_ttl)
    if claims.get("iss") != issuer:
        deny("issuer", "wrong issuer")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        deny("audience", "wrong audience")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        deny("missing_claim", "the token has no subject")
    if claims.get("role") not in ROLES:
        deny("role", "the token's role is not one of %s" % ", ".join(ROLES))
    for name in ("models", "create_targets"):
        value = claims.get(name)
        if value is not None and (not isinstance(value, list)
                                  or not all(isinstance(item, str) and item for item in value)):
            deny("malformed", "%s must be a list of names" % name)
    return claims


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------

def parse_keys(keys):
    """Check the key list: [{kid, alg, public_key | secret}] -> {kid: key}."""
    if not keys:
        raise PolicyError("auth_gateway_jwt_keys must list at least one key")
    result = {}
    for index, key in enumerate(keys):
        where = "auth_gateway_jwt_keys[%d]" % index
        if not isinstance(key, dict):
            raise PolicyError("%s must be a dict with kid, alg and public_key or secret" % where)
        kid, alg = key.get("kid"), key.get("alg")
        if not kid or not isinstance(kid, str):
            raise PolicyError("%s.kid must be a non-empty string" % where)
        if kid in result:
            raise PolicyError("%s.kid %r is listed twice" % (where, kid))
        if alg not in ALGORITHMS:
            raise PolicyError("%s.alg must be one of %s, not %r" % (where, ", ".join(ALGORITHMS), alg))
        if alg == "HS256":
            # secret_credential names a secret the service reads from systemd's credentials.
            if not key.get("secret") and not key.get("secret_credential"):
                raise PolicyError("%s needs secret for alg HS256" % where)
            if key.get("secret") and len(str(key["secret"]).encode("utf-8")) < 32:
                raise PolicyError("%s.secret must be at least 32 bytes for HS256" % where)
        else:
            material = key.get("public_key")
            if not material or not isinstance(material, str):
                raise PolicyError("%s needs public_key for alg %s" % (where, alg))
            if "PRIVATE KEY" in material:
                raise PolicyError("%s.public_key holds a private key: gateways get public keys only" % where)
            if "-----BEGIN PUBLIC KEY-----" not in material:
                raise PolicyError("%s.public_key must be a PEM public key" % where)
        result[kid] = dict(key)
    return result


def select_key(header, keys):
    """The configured key a token's header names; its alg must be that key's alg.

    The algorithm comes from the key, never from the token, so alg=none and
    HS256 signed with a public key (algorithm confusion) are refused here.
    """
    if not isinstance(header, dict):
        raise Denied(401, "malformed", "malformed token header")
    kid = header.get("kid")
    if kid is None:
        if len(keys) != 1:
            raise Denied(401, "unknown_kid", "the token names no key (kid)")
        key = next(iter(keys.values()))
    elif kid not in keys:
        raise Denied(401, "unknown_kid", "unknown key id")
    else:
        key = keys[kid]
    if header.get("alg") != key["alg"]:
        raise Denied(401, "algorithm", "algorithm not allowed for this key")
    return key


def check_key_type(key, alg, private=False):
    """Raise PolicyError unless a cryptography key object suits alg (type, curve, size)."""
    # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    kinds = {
        "EdDSA": (ed25519.Ed25519PrivateKey if private else ed25519.Ed25519PublicKey),
        "ES256": (ec.EllipticCurvePrivateKey if private else ec.EllipticCurvePublicKey),
        "RS256": (rsa.RSAPrivateKey if private else rsa.RSAPublicKey),
    }
    if not isinstance(key, kinds[alg]):
        raise PolicyError("a %s key cannot %s %s" % (type(key).__name__.lstrip("_"), "sign" if private else "verify",
                                                     alg))
    if alg == "ES256" and key.curve.name != "secp256r1":
        raise PolicyError("ES256 needs a P-256 key, not %s" % key.curve.name)
    if alg == "RS256" and key.key_size < 2048:
        raise PolicyError("RS256 keys must have at least 2048 bits, not %d" % key.key_size)


# --------------------------------------------------------------------------
# Roles and models
# --------------------------------------------------------------------------

def validate_pattern(pattern, where):
    if not isinstance(pattern, str) or not pattern.strip() or any(ch.isspace() for ch in pattern):
        raise PolicyError("%s: %r is not a model name or pattern" % (where, pattern))
    return pattern.strip().lower()


def parse_identities(identities, default_role=""):
    """auth_gateway_identities: {identity: role | {role, models}} -> {identity: {role[, models]}}.
    default_role ('' for none) is the role of an authenticated identity not listed."""
    if default_role and default_role not in ROLES:
        raise PolicyError("auth_gateway_identity_default_role must be '' or one of %s, not %r"
                          % (", ".join(ROLES), default_role))
    if not isinstance(identities, dict):
        raise PolicyError("auth_gateway_identities must be a dict: identity -> role or {role, models}")
    result = {}
    for identity, entry in identities.items():
        where = "auth_gateway_identities[%r]" % identity
        control = isinstance(identity, str) and any(ord(ch) < 32 or ord(ch) == 127 for ch in identity)
        if not isinstance(identity, str) or not identity.strip() or control:
            raise PolicyError("%s: an identity is a non-empty name without control characters" % where)
        if isinstance(entry, str):
            entry = {"role": entry}
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise PolicyError("%s: role must be one of %s" % (where, ", ".join(ROLES)))
        unknown = sorted(set(entry) - {"role", "models"})
        if unknown:
            raise PolicyError("%s: unknown key(s) %s (role, models)" % (where, ", ".join(unknown)))
        parsed = {"role": entry["role"]}
        if entry.get("models") is not None:
            if not isinstance(entry["models"], list):
                raise PolicyError("%s.models must be a list of model patterns" % where)
            parsed["models"] = [validate_pattern(pattern, where + ".models") for pattern in entry["models"]]
        result[identity] = parsed
    return result


def identity_claims(identities, default_role, values):
    """The claims of a request nginx authenticated: values are the IDENTITY_HEADER values
    it carries (exactly one). Raises Denied(401) without one, Denied(403) for an identity
    with no role."""
    if len(values) != 1 or not values[0].strip():
        raise Denied(401, "missing", "no authenticated identity")
    identity = values[0].strip()
    entry = identities.get(identity)
    if entry is None:
        if not default_role:
            raise Denied(403, "identity", "%s has no role at this gateway" % identity, subject=identity)
        entry = {"role": default_role}
    claims = dict(entry, sub=identity)
    return claims


def parse_role_actions(role_actions):
    """Merge configured role actions over the defaults and check them."""
    merged = dict(DEFAULT_ROLE_ACTIONS)
    for role, actions in (role_actions or {}).items():
        if role not in ROLES:
            raise PolicyError("auth_gateway_role_actions: unknown role %r (roles: %s)" % (role, ", ".join(ROLES)))
        unknown = [action for action in actions if action not in ACTIONS]
        if unknown:
            raise PolicyError("auth_gateway_role_actions.%s: unknown action(s) %s (actions: %s)"
                              % (role, ", ".join(unknown), ", ".join(ACTIONS)))
        merged[role] = list(actions)
    return merged


def parse_create_targets(targets):
    """Check auth_gateway_create_targets: {role: [pattern]} -> the same, patterns normalised."""
    if not isinstance(targets, dict):
        raise PolicyError("auth_gateway_create_targets must map roles to lists of model patterns")
    result = {}
    for role, patterns in targets.items():
        if role not in ROLES:
            raise PolicyError("auth_gateway_create_targets: unknown role %r (roles: %s)" % (role, ", ".join(ROLES)))
        if not isinstance(patterns, list):
            raise PolicyError("auth_gateway_create_targets.%s must be a list of model patterns" % role)
        result[role] = [validate_pattern(pattern, "auth_gateway_create_targets." + role) for pattern in patterns]
    return result


def parse_model_name(name):
    """Split an Ollama model reference into (host, namespace, model, tag), lowercased."""
    if not isinstance(name, str) or not name.strip():
        raise Denied(400, "bad_request", "model name missing")
    name = name.strip().lower()
    rest, tag = name, "latest"
    if ":" in name.rsplit("/", 1)[-1]:
        rest, tag = name.rsplit(":", 1)
    parts = rest.split("/")
    if len(parts) > 3 or not all(parts):
        raise Denied(400, "bad_request", "invalid model name")
    host, namespace = DEFAULT_REGISTRY, "library"
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        namespace, model = parts
    else:
        model = parts[0]
    if not _HOST_PART.match(host) or not _NAME_PART.match(namespace) or not _NAME_PART.match(model) \
            or not _NAME_PART.match(tag):
        raise Denied(400, "bad_request", "invalid model name")
    return host, namespace, model, tag


def short_model_name(name):
    """The name as users write it: llama3.2:latest, me/model:tag, host/ns/model:tag."""
    host, namespace, model, tag = parse_model_name(name)
    if host == DEFAULT_REGISTRY:
        return "%s:%s" % (model, tag) if namespace == "library" else "%s/%s:%s" % (namespace, model, tag)
    return "%s/%s/%s:%s" % (host, namespace, model, tag)


def model_matches(name, patterns):
    """Does a model name match any pattern? A pattern without a tag means :latest."""
    short = short_model_name(name)
    for pattern in patterns:
        if pattern == "*" or fnmatch.fnmatchcase(short, pattern if ":" in pattern.rsplit("/", 1)[-1]
                                                 else pattern + ":latest"):
            return True
    return False


def classify(method, path):
    """(action, endpoint label) of a request, or Denied(404) for routes nobody may use."""
    action = ROUTES.get((method, path))
    if action:
        return action, path
    for methods, prefix, prefix_action in PREFIX_ROUTES:
        if method in methods and path.startswith(prefix) and len(path) > len(prefix):
            return prefix_action, prefix + "*"
    raise Denied(404, "no_route", "not found")


def request_models(action, path, body):
    """The model names a request touches."""
    if action == "list" and path.startswith("/v1/models/"):
        return [path[len("/v1/models/"):]]
    if action == "copy":
        return [body.get("source"), body.get("destination")]
    fields = MODEL_FIELDS.get(action)
    if not fields:
        return []
    for field in fields:
        if body.get(field):
            return [body[field]]
    raise Denied(400, "bad_request", "the request names no model")


def parse_create_remote_hosts(hosts):
    """Check auth_gateway_create_remote_hosts: a list of host names."""
    if not isinstance(hosts, list) or not all(isinstance(host, str) and host for host in hosts):
        raise PolicyError("auth_gateway_create_remote_hosts must be a list of host names")
    return list(hosts)


def check_create_target(policy, claims, role, target, body):
    """Where a create may write: inside the role's targets (and the token's), never over a
    base model or into another role's targets; remote_host only where allowed."""
    remote = body.get("remote_host")
    if remote and remote not in (policy.get("create_remote_hosts") or []):
        raise Denied(403, "remote_host", "remote_host %s is not allowed" % remote)
    token_targets = claims.get("create_targets")
    if token_targets is not None and not model_matches(target, token_targets):
        raise Denied(403, "create_target", "this token may not create %s" % target)
    all_targets = policy.get("create_targets") or {}
    targets = all_targets.get(role)
    if targets is None:
        if "create" in policy["role_actions"].get(role, []):
            return  # full create (model administrators) and no targets configured for the role
        targets = []
    if not model_matches(target, targets):
        raise Denied(403, "create_target", "role %s may not create %s (its create targets: %s)"
                     % (role, target, ", ".join(targets) or "none"))
    if model_matches(target, policy.get("create_bases") or []):
        raise Denied(403, "create_target", "%s is a base model and cannot be overwritten" % target)
    for other, patterns in all_targets.items():
        if other != role and model_matches(target, patterns):
            raise Denied(403, "create_target", "%s belongs to role %s" % (target, other))


def modelfile_lines(modelfile, instruction):
    return [line.split(None, 1)[1].strip() if len(line.split(None, 1)) > 1 else ""
            for line in modelfile.splitlines() if line.strip().upper().startswith(instruction + " ")]


def authorize(policy, claims, method, path, body, window_open=False):
    """Decide a request. policy: role_actions, role_models, create_bases, pull_registries,
    allow_insecure_pull, change_window. window_open: whether a change window is open now.
    Returns (action, endpoint, models); raises Denied."""
    action, endpoint = classify(method, path)
    role = claims["role"]
    allowed = policy["role_actions"].get(role, [])
    granted = action in allowed or (action == "create" and "create_from_base" in allowed)
    if not granted:
        raise Denied(403, "role", "role %s may not use %s" % (role, endpoint))
    if action in WINDOW_ACTIONS and policy.get("change_window", True) and not window_open \
            and not (action == "blobs" and method == "HEAD"):
        raise Denied(403, "change_window", "%s changes models: it is open only during a model change window "
                     "(playbooks/model_change.yml)" % endpoint)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Denied(400, "bad_request", "the request body must be a JSON object")
    models = [short_model_name(name) for name in request_models(action, path, body)]
    if action == "create":
        bases = []
        if body.get("from"):
            bases.append(body["from"])
        if isinstance(body.get("modelfile"), str):
            bases.extend(modelfile_lines(body["modelfile"], "FROM"))
        if "create" not in allowed:
            if body.get("files") or body.get("adapters") or body.get("draft_files") or (
                    isinstance(body.get("modelfile"), str) and modelfile_lines(body["modelfile"], "ADAPTER")):
                raise Denied(403, "role", "role %s may create only from an allowed base, without files" % role)
            if not bases:
                raise Denied(403, "role", "create needs a base model (from)")
            for base in bases:
                if not model_matches(base, policy.get("create_bases", [])):
                    raise Denied(403, "model", "base model %s is not allowed" % base)
        models.extend(short_model_name(base) for base in bases)
        check_create_target(policy, claims, role, models[0], body)
    if action == "pull":
        host = parse_model_name(models[0])[0]
        if host not in policy.get("pull_registries", [DEFAULT_REGISTRY]):
            raise Denied(403, "registry", "registry %s is not allowed" % host)
        if body.get("insecure") and not policy.get("allow_insecure_pull"):
            raise Denied(403, "registry", "insecure pulls are not allowed")
    for name in models:
        # Ollama sends a model tagged :cloud (or -cloud) to ollama.com with the whole request.
        tag = name.rsplit(":", 1)[-1]
        if (tag == "cloud" or tag.endswith("-cloud")) and not policy.get("allow_cloud_models"):
            raise Denied(403, "cloud", "model %s would be served by Ollama's cloud" % name)
    role_models = policy.get("role_models", {}).get(role, ["*"])
    token_models = claims.get("models")
    for name in models:
        if not model_matches(name, role_models):
            raise Denied(403, "model", "model %s is not allowed for role %s" % (name, role))
        if token_models is not None and not model_matches(name, token_models):
            raise Denied(403, "model", "model %s is not allowed for this token" % name)
    return action, endpoint, models


# --------------------------------------------------------------------------
# Audit: texts are HMAC'd, never written
# --------------------------------------------------------------------------

def hmac_hex(key, text):
    if isinstance(text, str):
        text = text.encode("utf-8")
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def _content_texts(content):
    if isinstance(content, str):
        return [content]
    texts = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, dict) and "content" in part:
                texts.extend(_content_texts(part["content"]))
    return texts


def prompt_texts(body):
    """Every text a request sends to the model, in order (prompt, system, messages, inputs)."""
    if not isinstance(body, dict):
        return []
    texts = []
    for field in ("system", "prompt", "suffix", "instructions"):
        texts.extend(_content_texts(body.get(field)))
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            texts.extend(_content_texts(message.get("content")))
            texts.extend(_content_texts(message.get("thinking")))
    texts.extend(_content_texts(body.get("input")))
    return [text for text in texts if text]


# Where an answer's text and its reasoning stand in one streamed object: Ollama native,
# OpenAI-compatible (choices, * = each of a list) and Anthropic-compatible (delta).
TEXT_PATHS = (("response",), ("message", "content"), ("choices", "*", "delta", "content"),
              ("choices", "*", "message", "content"), ("choices", "*", "text"), ("delta", "text"))
THINKING_PATHS = (("thinking",), ("message", "thinking"), ("choices", "*", "delta", "reasoning"),
                  ("choices", "*", "message", "reasoning"), ("delta", "thinking"))


def _strings_at(chunk, paths):
    if not isinstance(chunk, dict):
        return ""
    parts = []
    for path in paths:
        first = chunk.get(path[0])  # this runs for every streamed chunk: most paths end here
        if first is None:
            continue
        nodes = [first]
        for step in path[1:]:
            if step == "*":
                nodes = [item for node in nodes if isinstance(node, list) for item in node]
            else:
                nodes = [node.get(step) for node in nodes if isinstance(node, dict)]
        parts.extend(node for node in nodes if isinstance(node, str))
    return "".join(parts)


def response_text(chunk):
    """The generated text in one response object (Ollama native or OpenAI/Anthropic compatible)."""
    return _strings_at(chunk, TEXT_PATHS)


def response_thinking(chunk):
    """The reasoning text in one response object: Ollama's thinking, OpenAI-compatible reasoning."""
    return _strings_at(chunk, THINKING_PATHS)


def response_done(chunk):
    """Does this response object end the answer (Ollama done, OpenAI finish_reason, Anthropic stop)?"""
    if not isinstance(chunk, dict):
        return False
    if chunk.get("done") is True or chunk.get("type") in ("message_stop", "response.completed"):
        return True
    return any(isinstance(choice, dict) and choice.get("finish_reason")
               for choice in chunk.get("choices") or [])


EMBEDDING_PATHS = ("/api/embed", "/api/embeddings", "/v1/embeddings")
_COMPLETION_LIMITS = ("max_tokens", "max_output_tokens")


def estimate_tokens(path, body, default_completion):
    """(prompt, completion) LLM tokens a request may cost, before Ollama says what it did.

    Prompt: a third of the UTF-8 bytes of every text sent (English runs at about four
    bytes a token, so this errs high), plus one. Completion: the limit the request sets
    (options.num_predict, max_tokens, max_output_tokens), else
    default_completion; none for embeddings.
    """
    prompt = 1 + sum(len(text.encode("utf-8")) for text in prompt_texts(body)) // 3
    if path in EMBEDDING_PATHS or not isinstance(body, dict):
        return prompt, 0
    limits = [(body.get("options") or {}).get("num_predict")] + [body.get(name) for name in _COMPLETION_LIMITS]
    for limit in limits:
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            return prompt, limit
    return prompt, default_completion


def response_tokens(chunk):
    """(prompt, completion) LLM tokens a response object reports, or (0, 0)."""
    if not isinstance(chunk, dict):
        return 0, 0

    def number(value):
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    prompt = number(chunk.get("prompt_eval_count"))
    completion = number(chunk.get("eval_count"))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        prompt += number(usage.get("prompt_tokens")) + number(usage.get("input_tokens"))
        completion += number(usage.get("completion_tokens")) + number(usage.get("output_tokens"))
    return prompt, completion


def audit_record(**fields):
    """One audit line: sorted keys, no whitespace, no text fields."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------
# The guard model: which requests it screens, how its verdict is acted on
# --------------------------------------------------------------------------

# The routes whose text a model generates from a prompt (embeddings are not screened: no answer, no conversation).
GUARD_ROUTES = ("/api/generate", "/api/chat", "/v1/chat/completions", "/v1/completions", "/v1/responses",
                "/v1/messages")
GUARD_DIRECTIONS = ("prompt", "response")
GUARD_DEFAULTS = {"protocol": "llama_guard", "risk": "harm", "screen": ["prompt", "response"], "block_categories": [],
                  "role_overrides": {}, "fail_mode": "closed", "timeout": 10, "stream_window": 32,
                  "max_concurrent": 2, "chunk_chars": 6000, "max_chunks": 8}


def parse_guard(guard, upstream):
    """The guard's settings (auth_gateway_guard_*) checked and completed, or None when it is off.
    Every error names its variable."""
    if not guard:
        return None
    settings = dict(GUARD_DEFAULTS, **{key: value for key, value in guard.items() if value is not None})
    settings["url"] = upstream
    errors = guard_model.validate(settings, "auth_gateway_guard_")
    screen = settings["screen"]
    if not isinstance(screen, list) or not screen or set(screen) - set(GUARD_DIRECTIONS):
        errors.append("auth_gateway_guard_screen must list prompt, response or both, got %r" % (screen,))
    for role, action in (settings["role_overrides"] or {}).items():
        if role not in ROLES or action not in ("block", "flag"):
            errors.append("auth_gateway_guard_role_overrides: %r: %r must be a role (%s) and block or flag"
                          % (role, action, ", ".join(ROLES)))
    if settings["fail_mode"] not in ("closed", "open"):
        errors.append("auth_gateway_guard_fail_mode must be closed or open, got %r" % settings["fail_mode"])
    for key in ("stream_window", "max_concurrent"):
        if not isinstance(settings[key], int) or isinstance(settings[key], bool) or settings[key] < 1:
            errors.append("auth_gateway_guard_%s must be a whole number of at least 1, got %r" % (key, settings[key]))
    if errors:
        raise PolicyError("; ".join(errors))
    return settings


def guard_action(guard, role, verdict):
    """What the gateway does with a verdict for a role: pass, flag (serve and record) or block.

    unsafe in a blocking category blocks, unless the role is overridden to flag; unsafe in another category
    flags; no verdict blocks with fail_mode closed and flags with open."""
    if verdict["verdict"] == "safe":
        return "pass"
    if verdict["verdict"] == "error":
        return "block" if guard["fail_mode"] == "closed" else "flag"
    if not verdict.get("blocked") or guard["role_overrides"].get(role) == "flag":
        return "flag"
    return "block"


def guard_record(direction, verdict, action):
    """The audit's view of a verdict: never text, never the guard's own words."""
    record = {"direction": direction, "model": verdict["model"], "verdict": verdict["verdict"],
              "categories": verdict.get("categories", []), "action": action, "latency_ms": verdict["latency_ms"]}
    if verdict.get("error"):
        record["error"] = verdict["error"]
    return record


def guard_message(direction, verdict):
    """What the client is told: the category codes, never the guard's free text."""
    if verdict["verdict"] == "error":
        return "the guard model is unavailable"
    what = "request" if direction == "prompt" else "answer"
    return "the %s was blocked by the guard: %s" % (what, ", ".join(verdict.get("categories") or ["unsafe"]))


def guard_stream_error(path, message):
    """The event that ends a stream cut by the guard, in the API's own format, so clients stop cleanly:
    Ollama's NDJSON error line, OpenAI's SSE error object, the Responses API's and Anthropic's error events."""
    if path.startswith("/api/"):
        return (json.dumps({"error": message}) + "\n").encode("utf-8")
    if path == "/v1/messages":
        event = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
        return ("event: error\ndata: %s\n\n" % json.dumps(event)).encode("utf-8")
    if path == "/v1/responses":
        event = {"type": "error", "code": "content_filter", "message": message, "param": None}
        return ("event: error\ndata: %s\n\n" % json.dumps(event)).encode("utf-8")
    event = {"error": {"message": message, "type": "content_filter", "param": None, "code": "guard_blocked"}}
    return ("data: %s\n\n" % json.dumps(event)).encode("utf-8")
