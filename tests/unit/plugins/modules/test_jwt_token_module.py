"""The jwt_token module: tokens the gateway accepts, unsigned claims, and refusals."""

import base64
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ansible_collections.llmsec.hardening.plugins.module_utils import gateway_policy as gp
from ansible_collections.llmsec.hardening.plugins.modules import jwt_token

BASE = {"subject": "svc", "role": "inference_consumer", "issuer": "https://iss", "audience": "gw"}


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def run(run_module, check=False, **args):
    return run_module(jwt_token.main, dict(BASE, **args), check=check)


def test_eddsa_token_verifies_and_passes_the_gateway_checks(run_module):
    key = ed25519.Ed25519PrivateKey.generate()
    out = run(run_module, private_key=pem(key), kid="k1", models=["llama3.2:*"], ttl=300)
    assert out.kind == "exit" and out.result["changed"] is False
    token = out.result["token"]
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "typ": "JWT", "kid": "k1"}
    claims = jwt.decode(token, key.public_key(), algorithms=["EdDSA"], audience="gw", issuer="https://iss")
    assert claims == out.result["claims"] and claims["models"] == ["llama3.2:*"]
    gp.check_claims(claims, time.time(), "https://iss", "gw")
    assert out.result["expires_at"].endswith("+00:00")


def test_es256_from_a_file_and_check_mode(run_module, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "es.key"
    path.write_text(pem(key))
    out = run(run_module, check=True, algorithm="ES256", private_key_path=str(path))
    jwt.decode(out.result["token"], key.public_key(), algorithms=["ES256"], audience="gw")


def test_hs256_secret(run_module):
    out = run(run_module, algorithm="HS256", secret="s" * 40)
    jwt.decode(out.result["token"], "s" * 40, algorithms=["HS256"], audience="gw")
    assert run(run_module, algorithm="HS256", secret="short").result["msg"].startswith("secret must be at least 32")


def test_unsigned_claims_for_an_external_signer(run_module):
    out = run(run_module, sign=False, algorithm="ES256", kid="hsm-1")
    assert out.result["token"] == ""
    header, payload = out.result["signing_input"].split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "ES256", "typ": "JWT", "kid": "hsm-1"}
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == out.result["claims"]


def test_refusals_name_the_problem(run_module):
    ed = pem(ed25519.Ed25519PrivateKey.generate())
    assert "lifetime cap" in run(run_module, private_key=ed, ttl=3600).result["msg"]
    assert "cannot sign RS256" in run(run_module, private_key=ed, algorithm="RS256").result["msg"]
    small = pem(rsa.generate_private_key(65537, 1024))
    assert "2048" in run(run_module, private_key=small, algorithm="RS256").result["msg"]
    assert "private_key or private_key_path is required" in run(run_module).result["msg"]
    assert "secret is for HS256 only" in run(run_module, secret="s" * 40).result["msg"]
    clash = run(run_module, private_key=ed, extra_claims={"role": "model_admin"})
    assert "extra_claims cannot set role" in clash.result["msg"]
    assert "private_key_path" in run(run_module, private_key_path="/nonexistent/key").result["msg"]


def test_extra_claims_for_qdrant(run_module):
    out = run(run_module, sign=False, extra_claims={"access": [{"collection": "rag_acme", "access": "r"}]})
    assert out.result["claims"]["access"] == [{"collection": "rag_acme", "access": "r"}]


def test_qdrant_tenant_token(run_module):
    secret = "q" * 40
    out = run_module(jwt_token.main, {"profile": "qdrant", "subject": "ingester-acme", "tenant": "acme",
                                      "access": "rw", "algorithm": "HS256", "secret": secret, "ttl": 600})
    claims = jwt.decode(out.result["token"], secret, algorithms=["HS256"])
    assert claims["access"] == [{"collection": "rag_acme", "access": "rw"}]
    assert set(claims) == {"exp", "access", "sub"}  # no aud: Qdrant's parser would refuse an unexpected one
    bad = run_module(jwt_token.main, {"profile": "qdrant", "subject": "x", "tenant": "../etc", "algorithm": "HS256",
                                      "secret": secret})
    assert "tenant" in bad.result["msg"]
    missing = run_module(jwt_token.main, {"profile": "qdrant", "subject": "x", "tenant": "acme"})
    assert "secret" in missing.result["msg"]
