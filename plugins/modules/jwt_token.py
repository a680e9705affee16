#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: jwt_token
short_description: Mint a scoped, short-lived JWT for the llmsec auth gateway (or a Qdrant tenant)
version_added: 0.1.0
description:
  - Builds the claims of a token for one subject and one role (C(iss), C(sub), C(aud), C(iat), C(nbf), C(exp),
    C(jti), C(role), optional C(models)), checked against the same rules as the auth_gateway service, and signs
    them with a private key (EdDSA, ES256, RS256) or a shared secret (HS256).
  - With O(sign=false) it signs nothing and returns the claims and the JWS signing input, for a signer that keeps
    its key elsewhere (an HSM, a KMS, Vault's transit engine).
  - The task's output is always hidden (no_log), whatever the play says, because it carries a credential.
    The token is still in the registered variable.
  - "Needs PyJWT and cryptography where the module runs (usually the controller, with C(delegate_to: localhost))."
  - With O(profile=qdrant) it mints a Qdrant JWT RBAC token instead - C(exp), C(sub) and an C(access) list that
    names the collection C(rag_<tenant>) only (O(tenant), O(access)), signed with HS256 by Qdrant's
    C(service.api_key) (O(secret)); no C(aud), which Qdrant's parser does not expect.
requirements:
  - "PyJWT >= 2.8 and cryptography, on the host that runs it (the controller when delegated; see meta/ee-requirements.txt)"
seealso:
  - module: llmsec.hardening.local_ai_facts
  - plugin: llmsec.hardening.gateway_config
    plugin_type: filter
  - plugin: llmsec.hardening.gateway_credentials
    plugin_type: filter
  - plugin: llmsec.hardening.qdrant_collection
    plugin_type: filter
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
options:
  profile:
    description: V(gateway) for the llmsec auth gateway, V(qdrant) for a Qdrant tenant token.
    type: str
    choices: [gateway, qdrant]
    default: gateway
  subject:
    description: Who the token is for (C(sub)); appears in the gateway's audit log.
    type: str
    required: true
  role:
    description: The gateway role the token grants. Required with O(profile=gateway).
    type: str
    choices: [inference_consumer, prompt_engineer, model_admin, auditor]
  tenant:
    description: O(profile=qdrant), the tenant; the token reaches the collection C(rag_<tenant>) only.
    type: str
  access:
    description: O(profile=qdrant), V(r) read or V(rw) read-write on the tenant's collection.
    type: str
    choices: [r, rw]
    default: r
  ttl:
    description: Lifetime in seconds. Over O(max_ttl) is an error, not a silent cut.
    type: int
    default: 900
  max_ttl:
    description: The lifetime cap; keep it equal to the gateway's C(auth_gateway_jwt_max_ttl).
    type: int
    default: 900
  algorithm:
    description: Signature algorithm; it must be the algorithm the gateway configured for O(kid).
    type: str
    choices: [EdDSA, ES256, RS256, HS256]
    default: EdDSA
  private_key:
    description: PEM private key (EdDSA, ES256, RS256), from a vault. Mutually exclusive with O(private_key_path).
    type: str
  private_key_path:
    description: Path of a PEM private key where the module runs.
    type: path
  private_key_passphrase:
    description: Passphrase of an encrypted private key.
    type: str
  secret:
    description: Shared secret for HS256, at least 32 bytes, from a vault.
    type: str
  issuer:
    description: The C(iss) claim; the gateway accepts only its configured issuer. Required with O(profile=gateway).
    type: str
  audience:
    description: The C(aud) claim; the gateway accepts only its configured audience. Required with
      O(profile=gateway).
    type: str
  kid:
    description: Key ID written to the token header, so that the gateway picks the key (rotation).
    type: str
  models:
    description:
      - Optional per-token model allowlist (C(llama3.2:*), C(nomic-embed-text)). A name without a tag means
        C(:latest). Omitted means the role's models.
    type: list
    elements: str
  not_before:
    description: Seconds from now before the token becomes valid (C(nbf)).
    type: int
    default: 0
  extra_claims:
    description:
      - More claims (for example Qdrant's C(access)). They cannot replace the registered or role claims.
    type: dict
    default: {}
  sign:
    description: Sign the token. V(false) returns the claims and signing input only.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Each run mints a new token (new C(iat), C(exp) and C(jti)); it never changes the host.
notes:
  - The module changes nothing, so it reports C(changed=false) and runs in check mode.
"""

EXAMPLES = r"""
- name: Mint a consumer token for the chat frontend (15 minutes)
  llmsec.hardening.jwt_token:
    subject: chat-frontend
    role: inference_consumer
    ttl: 900
    algorithm: EdDSA
    private_key: "{{ vault_gateway_signing_key }}"
    kid: "2026-11"
    issuer: https://auth.example.org
    audience: llmsec-gateway
    models: ["llama3.2:*"]
  delegate_to: localhost
  register: consumer

- name: Use it
  ansible.builtin.uri:
    url: https://ai01.example.org/api/generate
    method: POST
    headers:
      Authorization: "Bearer {{ consumer.token }}"
    body_format: json
    body: {model: llama3.2, prompt: hello, stream: false}
  no_log: true

- name: Claims only, for a signer that keeps the key (Vault transit, a KMS)
  llmsec.hardening.jwt_token:
    subject: batch-job
    role: inference_consumer
    algorithm: ES256
    issuer: https://auth.example.org
    audience: llmsec-gateway
    sign: false
  delegate_to: localhost
  register: unsigned
"""

RETURN = r"""
token:
  description: The signed token (empty when O(sign=false)).
  returned: always
  type: str
claims:
  description: The claim set.
  returned: always
  type: dict
  sample: {iss: https://auth.example.org, sub: chat-frontend, aud: llmsec-gateway, iat: 1795000000,
           nbf: 1795000000, exp: 1795000900, jti: Qm9vdHN0cmFw, role: inference_consumer}
header:
  description: The JWS header.
  returned: always
  type: dict
  sample: {alg: EdDSA, typ: JWT, kid: "2026-11"}
signing_input:
  description: base64url(header) + "." + base64url(claims), what an external signer signs.
  returned: always
  type: str
expires_at:
  description: Expiry, ISO 8601 in UTC.
  returned: always
  type: str
  sample: "2026-11-26T20:15:00+00:00"
"""

import base64
import json
import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.llmsec.hardening.plugins.module_utils import gateway_policy as gp
from ansible_collections.llmsec.hardening.plugins.module_utils import qdrant

try:
    import jwt
    from cryptography.hazmat.primitives import serialization
    HAS_JWT = True
except ImportError:
    HAS_JWT = False


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_signing_key(module, params):
    if params["algorithm"] == "HS256":
        if not params["secret"]:
            module.fail_json(msg="secret is required for algorithm HS256")
        if len(to_bytes(params["secret"])) < 32:
            module.fail_json(msg="secret must be at least 32 bytes for HS256")
        return params["secret"]
    if params["secret"]:
        module.fail_json(msg="secret is for HS256 only; algorithm %s needs private_key or private_key_path"
                         % params["algorithm"])
    pem = params["private_key"]
    if params["private_key_path"]:
        try:
            with open(params["private_key_path"], "rb") as handle:
                pem = handle.read()
        except OSError as exc:
            module.fail_json(msg="private_key_path %s: %s" % (params["private_key_path"], to_native(exc.strerror)))
    if not pem:
        module.fail_json(msg="private_key or private_key_path is required for algorithm %s" % params["algorithm"])
    passphrase = to_bytes(params["private_key_passphrase"]) if params["private_key_passphrase"] else None
    try:
        key = serialization.load_pem_private_key(to_bytes(pem), password=passphrase)
        gp.check_key_type(key, params["algorithm"], private=True)
    except (ValueError, TypeError, gp.PolicyError) as exc:
        module.fail_json(msg="private_key: %s" % to_native(exc))
    return key


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="str", choices=["gateway", "qdrant"], default="gateway"),
            subject=dict(type="str", required=True),
            role=dict(type="str", choices=list(gp.ROLES)),
            tenant=dict(type="str"),
            access=dict(type="str", choices=["r", "rw"], default="r"),
            ttl=dict(type="int", default=900),
            max_ttl=dict(type="int", default=gp.DEFAULT_MAX_TTL),
            algorithm=dict(type="str", choices=list(gp.ALGORITHMS), default="EdDSA"),
            private_key=dict(type="str", no_log=True),
            private_key_path=dict(type="path"),
            private_key_passphrase=dict(type="str", no_log=True),
            secret=dict(type="str", no_log=True),
            issuer=dict(type="str"),
            audience=dict(type="str"),
            kid=dict(type="str"),
            models=dict(type="list", elements="str"),
            not_before=dict(type="int", default=0),
            extra_claims=dict(type="dict", default={}),
            sign=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("private_key", "private_key_path", "secret")],
        required_if=[("profile", "gateway", ("role", "issuer", "audience")), ("profile", "qdrant", ("tenant", "secret"))],
        supports_check_mode=True,
    )
    params = module.params
    now = int(time.time())
    try:
        if params["profile"] == "qdrant":
            if params["algorithm"] != "HS256":
                module.fail_json(msg="profile qdrant signs with HS256 (Qdrant's api_key as secret)")
            claims = qdrant.tenant_claims(params["tenant"], params["access"], now, params["ttl"], params["subject"],
                                          max_ttl=params["max_ttl"])
        else:
            claims = gp.build_claims(params["subject"], params["role"], params["ttl"], params["issuer"],
                                     params["audience"], now, models=params["models"], max_ttl=params["max_ttl"],
                                     not_before=now + params["not_before"] if params["not_before"] else None)
    except (gp.PolicyError, qdrant.QdrantError) as exc:
        module.fail_json(msg=to_native(exc))
    clash = sorted(set(params["extra_claims"]) & set(claims))
    if clash:
        module.fail_json(msg="extra_claims cannot set %s" % ", ".join(clash))
    claims.update(params["extra_claims"])
    header = {"alg": params["algorithm"], "typ": "JWT"}
    if params["kid"]:
        header["kid"] = params["kid"]
    signing_input = "%s.%s" % (b64url(json.dumps(header, separators=(",", ":")).encode("utf-8")),
                               b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8")))
    token = ""
    if params["sign"]:
        if not HAS_JWT:
            module.fail_json(msg=missing_required_lib("PyJWT and cryptography"))
        key = load_signing_key(module, params)
        token = jwt.encode(claims, key, algorithm=params["algorithm"],
                           headers={"kid": params["kid"]} if params["kid"] else None)
    expires = datetime.fromtimestamp(claims["exp"], tz=timezone.utc).isoformat()
    module.exit_json(changed=False, token=token, claims=claims, header=header, signing_input=signing_input,
                     expires_at=expires)


if __name__ == "__main__":
    main()
