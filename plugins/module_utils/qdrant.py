# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A locked-down Qdrant configuration and per-tenant JWT claims, checked against Qdrant's documented keys.

No Qdrant server runs where this is tested, so the configuration is checked
against the keys Qdrant documents (config/config.yaml of the Qdrant
repository and its security guide), and the claims against the claim format
of Qdrant's JWT RBAC (a JWT signed with HS256 by service.api_key; `access`
either "r"/"m" or a list of {collection, access: r|rw}). A token without
`access` gets full access in Qdrant, so every claim set here has one.
"""

from __future__ import annotations

import ipaddress
import re

# The documented keys of the sections this role writes (Qdrant 1.9+), with their types.
DOCUMENTED = {
    "service": {
        "host": str, "http_port": int, "grpc_port": int, "max_request_size_mb": int, "max_workers": int,
        "enable_cors": bool, "enable_tls": bool, "verify_https_client_certificate": bool, "api_key": str,
        "read_only_api_key": str, "jwt_rbac": bool, "hide_jwt_dashboard": bool, "hardware_reporting": bool,
    },
    "tls": {"cert": str, "key": str, "ca_cert": str, "cert_ttl": int},
    "storage": {"storage_path": str, "snapshots_path": str, "temp_path": str, "on_disk_payload": bool},
    "cluster": {"enabled": bool},
    "telemetry_disabled": bool,
    "log_level": str,
}
TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
ACCESS = ("r", "rw")


class QdrantError(ValueError):
    pass


def collection_for(tenant):
    if not isinstance(tenant, str) or not TENANT.match(tenant):
        raise QdrantError("tenant %r: use 1-48 of a-z, 0-9, _ and - (the collection is rag_<tenant>)" % (tenant,))
    return "rag_" + tenant


def tenant_claims(tenant, access, now, ttl, subject=None, max_ttl=None):
    """Claims for one tenant's token: its collection only, read (r) or read-write (rw), with an expiry.

    No aud, iss or nbf: Qdrant's parser does not expect them, and an unexpected aud would fail validation."""
    if access not in ACCESS:
        raise QdrantError("tenant %s: access must be r or rw, not %r" % (tenant, access))
    if not isinstance(ttl, int) or ttl <= 0:
        raise QdrantError("tenant %s: ttl must be a positive number of seconds" % tenant)
    if max_ttl is not None and ttl > max_ttl:
        raise QdrantError("ttl %d is over the lifetime cap max_ttl=%d" % (ttl, max_ttl))
    claims = {"exp": int(now) + ttl, "access": [{"collection": collection_for(tenant), "access": access}]}
    if subject:
        claims["sub"] = subject
    return claims


def check_claims(claims):
    """What Qdrant would make of a claim set: errors, empty when it is scoped and expiring."""
    errors = []
    if not isinstance(claims.get("exp"), int):
        errors.append("exp must be set (a token without it never expires)")
    access = claims.get("access")
    if access is None:
        errors.append("access must be set (Qdrant gives full access without it)")
    elif access in ("m",):
        errors.append("access m manages the whole cluster; tenants get a collection list")
    elif isinstance(access, list):
        if not access:
            errors.append("access lists no collection")
        for entry in access:
            if not isinstance(entry, dict) or set(entry) - {"collection", "access", "payload"}:
                errors.append("access entries are {collection, access}")
            elif entry.get("access") not in ACCESS:
                errors.append("collection %s: access must be r or rw" % entry.get("collection"))
    elif access != "r":
        errors.append("access must be r, m or a list of collections")
    return errors


def _check(section, values, where, errors):
    for key, value in values.items():
        expected = section.get(key) if isinstance(section, dict) else None
        if expected is None:
            errors.append("%s.%s is not a documented Qdrant setting" % (where, key))
        elif isinstance(expected, dict):
            if not isinstance(value, dict):
                errors.append("%s.%s must be a mapping" % (where, key))
            else:
                _check(expected, value, "%s.%s" % (where, key), errors)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            errors.append("%s.%s must be %s" % (where, key, expected.__name__))


def check_config(config):
    """Documented keys and types, and the locked-down settings: loopback, keys, RBAC, TLS."""
    errors = []
    _check(DOCUMENTED, config, "qdrant", errors)
    service = config.get("service", {})
    try:
        if not ipaddress.ip_address(service.get("host", "0.0.0.0")).is_loopback:
            errors.append("service.host must be a loopback address")
    except ValueError:
        errors.append("service.host must be an IP address")
    api_key, read_only = service.get("api_key") or "", service.get("read_only_api_key") or ""
    if len(api_key) < 32:
        errors.append("service.api_key must be at least 32 characters (it also signs the JWTs)")
    if len(read_only) < 32:
        errors.append("service.read_only_api_key must be at least 32 characters")
    if api_key and api_key == read_only:
        errors.append("service.read_only_api_key must differ from service.api_key")
    if service.get("jwt_rbac") is not True:
        errors.append("service.jwt_rbac must be true")
    if service.get("enable_tls") is not True:
        errors.append("service.enable_tls must be true")
    tls = config.get("tls", {})
    for key in ("cert", "key"):
        if not tls.get(key):
            errors.append("tls.%s is required with enable_tls" % key)
    if service.get("enable_cors") is True:
        errors.append("service.enable_cors must be false (browsers have no business here)")
    return errors


def build_config(host, http_port, grpc_port, api_key, read_only_api_key, cert, key, ca_cert, storage_path):
    return {
        "service": {"host": host, "http_port": http_port, "grpc_port": grpc_port, "enable_tls": True,
                    "verify_https_client_certificate": False, "api_key": api_key,
                    "read_only_api_key": read_only_api_key, "jwt_rbac": True, "enable_cors": False},
        "tls": dict({"cert": cert, "key": key, "cert_ttl": 3600}, **({"ca_cert": ca_cert} if ca_cert else {})),
        "storage": {"storage_path": storage_path},
        "telemetry_disabled": True,
    }
