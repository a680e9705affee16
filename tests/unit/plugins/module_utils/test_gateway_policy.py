import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import gateway_policy as gp

NOW = 1_800_000_000
ISS, AUD = "https://auth.example.org", "llmsec-gateway"


def claims(**changes):
    base = gp.build_claims("alice", "inference_consumer", 600, ISS, AUD, NOW)
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def check(value, now=NOW, **kwargs):
    return gp.check_claims(value, now, ISS, AUD, **kwargs)


def reason(value, now=NOW, **kwargs):
    with pytest.raises(gp.Denied) as info:
        check(value, now, **kwargs)
    assert info.value.status == 401
    return info.value.reason


POLICY = {"role_actions": gp.parse_role_actions(None), "role_models": {}, "create_bases": ["llama3.2:*"],
          "pull_registries": ["registry.ollama.ai"], "create_targets": {"prompt_engineer": ["pirate:*", "x:*"]}}


def decide(role, method, path, body=None, **claim_changes):
    """Inside a change window (the window's own tests are below)."""
    return gp.authorize(POLICY, claims(role=role, **claim_changes), method, path, body, window_open=True)


def refused(role, method, path, body=None, **claim_changes):
    with pytest.raises(gp.Denied) as info:
        decide(role, method, path, body, **claim_changes)
    return info.value.status, info.value.reason


# -- claims -----------------------------------------------------------------

def test_minted_claims_pass_the_gateway_check():
    value = claims()
    assert check(value) is value
    assert value["exp"] - value["iat"] == 600 and value["nbf"] == NOW and value["jti"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(subject=""), "subject"), (dict(role="root"), "role must be one of"), (dict(ttl=0), "ttl"),
    (dict(ttl=901), "lifetime cap"), (dict(issuer=""), "issuer"), (dict(audience=""), "audience"),
    (dict(models=["ok", "has space"]), "not a model name"),
])
def test_build_claims_refuses_bad_input(kwargs, message):
    args = dict(subject="alice", role="auditor", ttl=60, issuer=ISS, audience=AUD, now=NOW)
    args.update(kwargs)
    with pytest.raises(gp.PolicyError, match=message):
        gp.build_claims(**args)


def test_expired_and_leeway():
    value = claims(exp=NOW - 10, iat=NOW - 300)
    assert check(value)  # within the 30 s leeway
    assert reason(value, now=NOW + 21) == "expired"


def test_future_nbf_and_iat():
    assert reason(claims(nbf=NOW + 120)) == "not_yet_valid"
    assert check(claims(nbf=NOW + 20))
    assert reason(claims(iat=NOW + 120, exp=NOW + 600)) == "not_yet_valid"


def test_lifetime_over_the_cap():
    assert reason(claims(exp=NOW + 3600)) == "lifetime"
    # iat may be ahead by the leeway only, so exp - now stays within max_ttl + leeway.
    assert reason(claims(iat=NOW + 25, exp=NOW + 1000)) == "lifetime"
    assert reason(claims(iat=NOW + 200, exp=NOW + 1000)) == "not_yet_valid"
    assert check(claims(exp=NOW + 3600), max_ttl=3600)


@pytest.mark.parametrize("changes, expected", [
    (dict(exp=None), "missing_claim"), (dict(iat=None), "missing_claim"), (dict(exp="soon"), "malformed"),
    (dict(exp=True), "malformed"), (dict(iss="https://evil"), "issuer"), (dict(aud="other"), "audience"),
    (dict(sub=""), "missing_claim"), (dict(role="superuser"), "role"), (dict(models="llama3"), "malformed"),
])
def test_claim_errors_have_reasons(changes, expected):
    assert reason(claims(**changes)) == expected


def test_audience_list():
    assert check(claims(aud=["x", AUD]))


# -- keys -------------------------------------------------------------------

PUBLIC = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"


def test_parse_keys_errors_name_the_variable():
    with pytest.raises(gp.PolicyError, match="at least one key"):
        gp.parse_keys([])
    with pytest.raises(gp.PolicyError, match=r"auth_gateway_jwt_keys\[0\].alg"):
        gp.parse_keys([{"kid": "a", "alg": "none", "public_key": PUBLIC}])
    with pytest.raises(gp.PolicyError, match="listed twice"):
        gp.parse_keys([{"kid": "a", "alg": "EdDSA", "public_key": PUBLIC}] * 2)
    with pytest.raises(gp.PolicyError, match="private key"):
        gp.parse_keys([{"kid": "a", "alg": "EdDSA", "public_key": "-----BEGIN PRIVATE KEY-----"}])
    with pytest.raises(gp.PolicyError, match="32 bytes"):
        gp.parse_keys([{"kid": "a", "alg": "HS256", "secret": "short"}])
    with pytest.raises(gp.PolicyError, match=r"auth_gateway_jwt_keys\[1\] needs public_key"):
        gp.parse_keys([{"kid": "a", "alg": "HS256", "secret": "s" * 32}, {"kid": "b", "alg": "ES256"}])


def test_select_key_takes_alg_from_the_key():
    keys = gp.parse_keys([{"kid": "ed", "alg": "EdDSA", "public_key": PUBLIC},
                          {"kid": "hs", "alg": "HS256", "secret": "s" * 32}])
    assert gp.select_key({"alg": "EdDSA", "kid": "ed"}, keys)["kid"] == "ed"
    for header, expected in [({"alg": "none", "kid": "ed"}, "algorithm"),
                             ({"alg": "HS256", "kid": "ed"}, "algorithm"),  # HS/EdDSA confusion
                             ({"alg": "EdDSA", "kid": "nope"}, "unknown_kid"),
                             ({"alg": "EdDSA"}, "unknown_kid"),  # two keys: kid required
                             ("garbage", "malformed")]:
        with pytest.raises(gp.Denied) as info:
            gp.select_key(header, keys)
        assert info.value.reason == expected


def test_single_key_needs_no_kid():
    keys = gp.parse_keys([{"kid": "only", "alg": "EdDSA", "public_key": PUBLIC}])
    assert gp.select_key({"alg": "EdDSA"}, keys)["kid"] == "only"


def test_key_types_match_algorithms():
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    gp.check_key_type(ed25519.Ed25519PrivateKey.generate(), "EdDSA", private=True)
    gp.check_key_type(ec.generate_private_key(ec.SECP256R1()).public_key(), "ES256")
    with pytest.raises(gp.PolicyError, match="P-256"):
        gp.check_key_type(ec.generate_private_key(ec.SECP384R1()).public_key(), "ES256")
    with pytest.raises(gp.PolicyError, match="cannot verify RS256"):
        gp.check_key_type(ed25519.Ed25519PrivateKey.generate().public_key(), "RS256")
    with pytest.raises(gp.PolicyError, match="2048"):
        gp.check_key_type(rsa.generate_private_key(65537, 1024).public_key(), "RS256")


# -- roles ------------------------------------------------------------------

@pytest.mark.parametrize("role, method, path, body", [
    ("inference_consumer", "POST", "/api/generate", {"model": "llama3.2", "prompt": "hi"}),
    ("inference_consumer", "POST", "/api/chat", {"model": "llama3.2", "messages": []}),
    ("inference_consumer", "POST", "/api/embed", {"model": "nomic-embed-text", "input": "x"}),
    ("inference_consumer", "GET", "/api/tags", None),
    ("inference_consumer", "POST", "/v1/chat/completions", {"model": "llama3.2"}),
    ("inference_consumer", "GET", "/v1/models/llama3.2", None),
    ("prompt_engineer", "POST", "/api/show", {"model": "llama3.2"}),
    ("prompt_engineer", "POST", "/api/create", {"model": "pirate", "from": "llama3.2:3b", "system": "Arr"}),
    ("model_admin", "POST", "/api/pull", {"model": "llama3.2"}),
    ("model_admin", "POST", "/api/push", {"model": "me/pirate"}),
    ("model_admin", "POST", "/api/copy", {"source": "llama3.2", "destination": "backup"}),
    ("model_admin", "DELETE", "/api/delete", {"model": "backup"}),
    ("model_admin", "POST", "/api/blobs/sha256:" + "0" * 64, None),
    ("model_admin", "POST", "/api/create", {"model": "x", "files": {"a.gguf": "sha256:00"}}),
    ("auditor", "GET", "/llmsec/metrics", None),
    ("auditor", "POST", "/llmsec/audit/verify", {"text": "x"}),
])
def test_roles_allow(role, method, path, body):
    decide(role, method, path, body)


@pytest.mark.parametrize("role, method, path, body, expected", [
    ("inference_consumer", "POST", "/api/pull", {"model": "llama3.2"}, (403, "role")),
    ("inference_consumer", "POST", "/api/show", {"model": "llama3.2"}, (403, "role")),
    ("inference_consumer", "GET", "/llmsec/metrics", None, (403, "role")),
    ("auditor", "POST", "/api/generate", {"model": "llama3.2"}, (403, "role")),
    ("auditor", "GET", "/api/tags", None, (403, "role")),
    ("prompt_engineer", "POST", "/api/create", {"model": "x", "from": "mistral"}, (403, "model")),
    ("prompt_engineer", "POST", "/api/create", {"model": "x"}, (403, "role")),
    ("prompt_engineer", "POST", "/api/create", {"model": "x", "from": "llama3.2", "files": {"a": "b"}}, (403, "role")),
    ("prompt_engineer", "POST", "/api/create", {"model": "x", "modelfile": "FROM mistral\n"}, (403, "model")),
    ("prompt_engineer", "POST", "/api/create",
     {"model": "x", "modelfile": "FROM llama3.2\nADAPTER ./a.gguf\n"}, (403, "role")),
    ("prompt_engineer", "POST", "/api/pull", {"model": "llama3.2"}, (403, "role")),
    ("model_admin", "POST", "/api/pull", {"model": "evil.example.com/x/y:1"}, (403, "registry")),
    ("model_admin", "POST", "/api/pull", {"model": "llama3.2", "insecure": True}, (403, "registry")),
    ("model_admin", "POST", "/api/generate", {"model": "llama3.2"}, (403, "role")),
    ("model_admin", "GET", "/api/me", None, (404, "no_route")),
    ("model_admin", "POST", "/api/experimental/web_fetch", {}, (404, "no_route")),
    ("inference_consumer", "GET", "/api/generate", None, (404, "no_route")),
    ("inference_consumer", "POST", "/api/generate", {"prompt": "no model"}, (400, "bad_request")),
    ("inference_consumer", "POST", "/api/generate", ["not", "an", "object"], (400, "bad_request")),
    ("inference_consumer", "POST", "/api/generate", {"model": "../../etc/passwd"}, (400, "bad_request")),
])
def test_roles_refuse(role, method, path, body, expected):
    assert refused(role, method, path, body) == expected


def test_token_model_allowlist():
    body = {"model": "llama3.2:3b", "prompt": "x"}
    decide("inference_consumer", "POST", "/api/generate", body, models=["llama3.2:*"])
    assert refused("inference_consumer", "POST", "/api/generate", {"model": "mistral"},
                   models=["llama3.2:*"]) == (403, "model")
    # No tag means :latest.
    decide("inference_consumer", "POST", "/api/generate", {"model": "mistral:latest"}, models=["mistral"])
    assert refused("inference_consumer", "POST", "/api/generate", {"model": "mistral:7b"},
                   models=["mistral"]) == (403, "model")
    # copy checks both names
    assert refused("model_admin", "POST", "/api/copy", {"source": "llama3.2", "destination": "evil"},
                   models=["llama3.2"]) == (403, "model")


def test_role_models_from_config():
    policy = dict(POLICY, role_models={"inference_consumer": ["phi3:*"]})
    gp.authorize(policy, claims(), "POST", "/api/chat", {"model": "phi3:mini"})
    with pytest.raises(gp.Denied):
        gp.authorize(policy, claims(), "POST", "/api/chat", {"model": "llama3.2"})


def test_role_actions_override_and_errors():
    merged = gp.parse_role_actions({"model_admin": ["pull", "inference"]})
    assert merged["model_admin"] == ["pull", "inference"] and merged["auditor"] == ["metrics", "audit"]
    with pytest.raises(gp.PolicyError, match="unknown role 'root'"):
        gp.parse_role_actions({"root": ["pull"]})
    with pytest.raises(gp.PolicyError, match="unknown action"):
        gp.parse_role_actions({"auditor": ["sudo"]})


@pytest.mark.parametrize("name, expected", [
    ("llama3.2", "llama3.2:latest"), ("LLaMA3.2:3B", "llama3.2:3b"), ("me/pirate:v1", "me/pirate:v1"),
    ("registry.ollama.ai/library/llama3.2:1b", "llama3.2:1b"),
    ("localhost:5000/ns/model:tag", "localhost:5000/ns/model:tag"),
])
def test_model_names(name, expected):
    assert gp.short_model_name(name) == expected


def test_private_registry_allowlist():
    policy = dict(POLICY, pull_registries=["models.internal:5000"])
    gp.authorize(policy, claims(role="model_admin"), "POST", "/api/pull", {"model": "models.internal:5000/ai/m:1"},
                 window_open=True)
    with pytest.raises(gp.Denied):
        gp.authorize(policy, claims(role="model_admin"), "POST", "/api/pull", {"model": "llama3.2"}, window_open=True)


# -- audit ------------------------------------------------------------------

def test_prompt_texts_cover_every_api():
    assert gp.prompt_texts({"model": "m", "prompt": "p", "system": "s"}) == ["s", "p"]
    assert gp.prompt_texts({"messages": [{"role": "user", "content": "a"},
                                         {"role": "user", "content": [{"type": "text", "text": "b"}]}]}) == ["a", "b"]
    assert gp.prompt_texts({"input": ["x", "y"]}) == ["x", "y"]
    assert gp.prompt_texts({"input": [{"role": "user", "content": "r"}]}) == ["r"]
    assert gp.prompt_texts(None) == []


def test_response_text_and_tokens():
    assert gp.response_text({"response": "Hel"}) == "Hel"
    assert gp.response_text({"message": {"content": "lo"}}) == "lo"
    assert gp.response_text({"choices": [{"delta": {"content": "x"}}]}) == "x"
    assert gp.response_tokens({"done": True, "prompt_eval_count": 7, "eval_count": 12}) == (7, 12)
    assert gp.response_tokens({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == (3, 4)
    assert gp.response_tokens({"eval_count": -5, "prompt_eval_count": True}) == (0, 0)


def test_hmac_is_keyed():
    assert gp.hmac_hex(b"k" * 32, "secret prompt") != gp.hmac_hex(b"j" * 32, "secret prompt")
    assert len(gp.hmac_hex(b"k" * 32, "secret prompt")) == 64
    line = gp.audit_record(subject="a", prompt_hmacs=[gp.hmac_hex(b"k" * 32, "secret prompt")])
    assert "secret" not in line


# -- the change window ----------------------------------------------------------

@pytest.mark.parametrize("role,method,path,body", [
    ("model_admin", "POST", "/api/pull", {"model": "llama3.2"}),
    ("model_admin", "POST", "/api/push", {"model": "me/llama3.2"}),
    ("model_admin", "POST", "/api/create", {"model": "x:1", "from": "llama3.2:3b"}),
    ("prompt_engineer", "POST", "/api/create", {"model": "pirate:1", "from": "llama3.2:3b"}),
    ("model_admin", "POST", "/api/copy", {"source": "llama3.2", "destination": "x:1"}),
    ("model_admin", "DELETE", "/api/delete", {"model": "llama3.2"}),
    ("model_admin", "POST", "/api/blobs/sha256:" + "0" * 64, None),
])
def test_model_routes_need_an_open_window(role, method, path, body):
    """Every route that changes the store, for every role allowed it: 403 change_window outside a window, the
    usual decision inside one."""
    with pytest.raises(gp.Denied) as info:
        gp.authorize(POLICY, claims(role=role), method, path, body)
    assert (info.value.status, info.value.reason) == (403, "change_window")
    gp.authorize(POLICY, claims(role=role), method, path, body, window_open=True)


def test_the_window_leaves_the_rest_alone():
    """Reads, inference, a blob's HEAD, and a role refused anyway (its reason stays the role)."""
    gp.authorize(POLICY, claims(), "POST", "/api/generate", {"model": "llama3.2", "prompt": "x"})
    gp.authorize(POLICY, claims(role="model_admin"), "POST", "/api/show", {"model": "llama3.2"})
    gp.authorize(POLICY, claims(role="model_admin"), "HEAD", "/api/blobs/sha256:" + "0" * 64, None)
    with pytest.raises(gp.Denied) as info:
        gp.authorize(POLICY, claims(), "POST", "/api/pull", {"model": "llama3.2"})
    assert info.value.reason == "role"


def test_the_window_can_be_turned_off():
    policy = dict(POLICY, change_window=False)
    gp.authorize(policy, claims(role="model_admin"), "POST", "/api/pull", {"model": "llama3.2"})
