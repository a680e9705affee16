# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build and check the auth gateway's configuration on the controller, before the host changes.

The rules are module_utils/gateway_policy.py, which the service runs too.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.module_utils import gateway_policy as gp

try:
    from cryptography.hazmat.primitives import serialization
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False


def _credential_name(kid):
    return "jwt-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in kid)


def gateway_config(settings):
    """settings: the role's values under the config's names. Returns the service's JSON config,
    with HS256 secrets replaced by the names of systemd credentials."""
    try:
        mode = settings.get("auth", "jwt")
        if mode not in gp.AUTH_MODES:
            raise gp.PolicyError("auth_gateway_auth must be one of %s, not %r" % (", ".join(gp.AUTH_MODES), mode))
        keys = gp.parse_keys(settings.get("keys")) if mode == "jwt" or settings.get("keys") else {}
        gp.parse_identities(settings.get("identities") or {}, settings.get("identity_default_role") or "")
        gp.parse_role_actions(settings.get("role_actions"))
        for role, patterns in (settings.get("role_models") or {}).items():
            if role not in gp.ROLES:
                raise gp.PolicyError("auth_gateway_role_models: unknown role %r" % role)
            for pattern in patterns:
                gp.validate_pattern(pattern, "auth_gateway_role_models." + role)
        for pattern in settings.get("create_bases") or []:
            gp.validate_pattern(pattern, "auth_gateway_create_bases")
        gp.parse_create_targets(settings.get("create_targets") or {})
        gp.parse_create_remote_hosts(settings.get("create_remote_hosts") or [])
        gp.parse_guard(settings.get("guard"), settings.get("upstream", ""))
    except gp.PolicyError as exc:
        raise AnsibleFilterError(str(exc))
    config = dict(settings)
    config["keys"] = []
    for index, key in enumerate(keys.values()):
        where = "auth_gateway_jwt_keys[%d] (kid %s)" % (index, key["kid"])
        entry = {"kid": key["kid"], "alg": key["alg"]}
        if key["alg"] == "HS256":
            entry["secret_credential"] = _credential_name(key["kid"])
        else:
            entry["public_key"] = key["public_key"]
            if HAS_CRYPTOGRAPHY:
                try:
                    gp.check_key_type(serialization.load_pem_public_key(key["public_key"].encode("ascii")),
                                      key["alg"])
                except (ValueError, gp.PolicyError) as exc:
                    raise AnsibleFilterError("%s: %s" % (where, exc))
        config["keys"].append(entry)
    return config


def gateway_credentials(keys, audit_key):
    """The secrets the service reads through LoadCredential=: [{name, content}]."""
    if not audit_key or len(str(audit_key).encode("utf-8")) < 32:
        raise AnsibleFilterError("auth_gateway_audit_hmac_key must be at least 32 bytes (put it in a vault)")
    credentials = [{"name": "audit-hmac", "content": str(audit_key)}]
    for key in keys or []:
        if isinstance(key, dict) and key.get("alg") == "HS256" and key.get("secret"):
            credentials.append({"name": _credential_name(str(key.get("kid"))), "content": str(key["secret"])})
    return credentials


class FilterModule(object):
    def filters(self):
        return {"gateway_config": gateway_config, "gateway_credentials": gateway_credentials}
