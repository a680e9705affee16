"""The gateway_config and gateway_credentials filters: checked on the controller, secrets kept apart."""

import pytest
from ansible.errors import AnsibleFilterError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.llmsec.hardening.plugins.filter.gateway import gateway_config, gateway_credentials

PUBLIC = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def settings(**changes):
    keys = [{"kid": "ed", "alg": "EdDSA", "public_key": PUBLIC}, {"kid": "hs/1", "alg": "HS256", "secret": "s" * 32}]
    base = {"issuer": "i", "audience": "a", "keys": keys}
    base.update(changes)
    return base


def test_config_keeps_secrets_out():
    config = gateway_config(settings())
    assert config["keys"][0] == {"kid": "ed", "alg": "EdDSA", "public_key": PUBLIC}
    assert config["keys"][1] == {"kid": "hs/1", "alg": "HS256", "secret_credential": "jwt-hs_1"}
    assert "s" * 32 not in str(config)


def test_credentials_hold_the_secrets():
    creds = gateway_credentials(settings()["keys"], "k" * 32)
    assert creds == [{"name": "audit-hmac", "content": "k" * 32}, {"name": "jwt-hs_1", "content": "s" * 32}]
    with pytest.raises(AnsibleFilterError, match="auth_gateway_audit_hmac_key"):
        gateway_credentials([], "short")


@pytest.mark.parametrize("changes, message", [
    (dict(keys=[{"kid": "ed", "alg": "RS256", "public_key": PUBLIC}]), r"auth_gateway_jwt_keys\[0\] \(kid ed\)"),
    (dict(keys=[]), "at least one key"),
    (dict(role_models={"root": ["*"]}), "auth_gateway_role_models: unknown role"),
    (dict(role_models={"auditor": ["a b"]}), "auth_gateway_role_models.auditor"),
    (dict(create_bases=[""]), "auth_gateway_create_bases"),
    (dict(role_actions={"auditor": ["pull", "fly"]}), "unknown action"),
    (dict(auth="basic"), "auth_gateway_auth must be one of"),
    (dict(auth="proxy", identities={"alice": "admin"}), r"auth_gateway_identities\['alice'\]: role"),
    (dict(auth="proxy", identities={"alice": {"role": "auditor", "models": ["a b"]}}),
     r"auth_gateway_identities\['alice'\].models"),
    (dict(auth="proxy", identity_default_role="root"), "auth_gateway_identity_default_role"),
])
def test_bad_settings_are_refused(changes, message):
    with pytest.raises(AnsibleFilterError, match=message):
        gateway_config(settings(**changes))


def test_proxy_mode_needs_no_keys():
    config = gateway_config(settings(auth="proxy", keys=[], identities={"CN=app1": "inference_consumer"}))
    assert config["keys"] == [] and config["identities"] == {"CN=app1": "inference_consumer"}
