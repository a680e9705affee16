"""Qdrant configuration and tenant claims, against Qdrant's documented keys and claim format."""

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import qdrant

KEY, READ = "k" * 40, "r" * 40


def config(**service):
    built = qdrant.build_config("127.0.0.1", 6333, 6334, KEY, READ, "/etc/llmsec/pki/server.crt",
                                "/etc/llmsec/pki/server.key", "/etc/llmsec/pki/ca.crt", "/var/lib/qdrant/storage")
    built["service"].update(service)
    return built


def test_locked_down_config_passes():
    built = config()
    assert qdrant.check_config(built) == []
    assert built["service"]["jwt_rbac"] is True and built["service"]["enable_tls"] is True
    assert built["tls"]["ca_cert"].endswith("ca.crt")


@pytest.mark.parametrize("changes, message", [
    ({"host": "0.0.0.0"}, "loopback"), ({"host": "localhost"}, "IP address"), ({"api_key": "short"}, "api_key"),
    ({"read_only_api_key": KEY}, "must differ"), ({"jwt_rbac": False}, "jwt_rbac must be true"),
    ({"enable_tls": False}, "enable_tls must be true"), ({"enable_cors": True}, "enable_cors"),
    ({"http_port": "6333"}, "http_port must be int"), ({"apikey": KEY}, "service.apikey is not a documented"),
])
def test_unsafe_or_undocumented_settings(changes, message):
    assert any(message in error for error in qdrant.check_config(config(**changes)))


def test_tenant_claims():
    claims = qdrant.tenant_claims("acme", "r", 1000, 3600, subject="rag-acme")
    assert claims == {"exp": 4600, "access": [{"collection": "rag_acme", "access": "r"}], "sub": "rag-acme"}
    assert qdrant.check_claims(claims) == []
    for tenant in ("", "ACME", "a/b", "../x", "x" * 49):
        with pytest.raises(qdrant.QdrantError):
            qdrant.collection_for(tenant)
    with pytest.raises(qdrant.QdrantError, match="r or rw"):
        qdrant.tenant_claims("acme", "m", 0, 60)


def test_check_claims_catches_full_access():
    assert "full access" in qdrant.check_claims({"exp": 1})[0]
    assert "manages the whole cluster" in qdrant.check_claims({"exp": 1, "access": "m"})[0]
    assert "never expires" in qdrant.check_claims({"access": "r"})[0]
    assert qdrant.check_claims({"exp": 1, "access": [{"collection": "rag_a", "access": "w"}]})
