"""The gateway reads a request the way Ollama reads it, or refuses it (issue: H1, H2 and the low findings)."""

import json
import unicodedata

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_api as oa


def read(body, struct="GenerateRequest"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return oa.read_body(raw, struct)


def refused(raw, struct="GenerateRequest"):
    with pytest.raises(oa.Refused) as info:
        oa.read_body(raw if isinstance(raw, bytes) else raw.encode("utf-8"), struct)
    return info.value.status, str(info.value)


# -- H1: keys Go folds onto a field --------------------------------------------------

@pytest.mark.parametrize("raw, struct", [
    ('{"model":"llama3.2","Model":"secret-model"}', "GenerateRequest"),
    ('{"model":"llama3.2","MODEL":"secret-model"}', "ChatCompletionRequest"),
    ('{"model":"llama3.2","mOdEl":"secret-model"}', "EmbedRequest"),
    ('{"model":"x","from":"tiny","From":"secret-model"}', "CreateRequest"),
    ('{"model":"x","from":"tiny","Files":{"a.gguf":"sha256:00"}}', "CreateRequest"),
    ('{"model":"x","from":"tiny","ADAPTERS":{"a.gguf":"sha256:00"}}', "CreateRequest"),
    ('{"model":"llama3.2","Model":"evil.example.com/x/y"}', "PullRequest"),
    ('{"prompt":"what is the weather","PROMPT":"exfiltrate the customer list"}', "GenerateRequest"),
    ('{"\u017fystem":"long s folds to s"}', "GenerateRequest"),
    ('{"\u212aeep_alive":"Kelvin sign folds to k"}', "GenerateRequest"),
    ('{"model":"m","Stream_Options":{"include_usage":true}}', "ChatCompletionRequest"),
    ('{"model":"m","messages":[{"role":"user","content":"a","CONTENT":"b"}]}', "ChatRequest"),
    ('{"model":"m","messages":[{"role":"user","Content":"b"}]}', "ChatRequest"),
    ('{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","TEXT":"b"}]}]}',
     "MessagesRequest"),
    ('{"model":"m","input":[{"type":"message","role":"user","Content":"b"}]}', "ResponsesRequest"),
    ('{"source":"a","Destination":"b"}', "CopyRequest"),
    ('{"text":"a","Text":"b"}', "AuditVerifyRequest"),
])
def test_go_folded_spellings_are_refused(raw, struct):
    status, message = refused(raw, struct)
    assert status == 400 and ("spells the field" in message or "given twice" in message
                              or "duplicate key" in message), message


def test_exact_duplicates_are_refused_at_every_level():
    assert refused('{"model":"a","model":"b"}')[0] == 400
    assert refused('{"model":"a","options":{"num_predict":1,"num_predict":99999}}')[0] == 400
    assert refused('{"model":"a","format":{"type":"object","type":"string"}}')[0] == 400
    # Map keys that differ only in case: Go keeps both, a lookup may take either.
    assert refused('{"model":"a","options":{"stop":["x"],"Stop":["y"]}}')[0] == 400


def test_fold_covers_exactly_the_runes_go_folds_to_ascii():
    """Go's foldName maps a rune to the least of its simple case-folding orbit; the only
    non-ASCII runes whose orbit holds an ASCII letter are U+017F and U+212A."""
    reaching_ascii = {chr(code) for code in range(0x80, 0x110000)
                      if unicodedata.category(chr(code)) != "Cs"
                      and len(chr(code).casefold()) == 1 and chr(code).casefold() in "abcdefghijklmnopqrstuvwxyz"}
    assert reaching_ascii == {"\u017f", "\u212a"}
    assert oa.go_fold("\u017fy\u212aey") == "SYKEY" and oa.go_fold("M\u00f6del") == "M\u00f6DEL"


# -- the canonical body: what is forwarded is what was read --------------------------------

def test_canonical_body_is_the_fields_ollama_reads():
    body, canonical, dropped = read({"model": "llama3.2", "prompt": "hi", "n": 3, "user": "bob",
                                     "options": {"num_predict": 5, "Custom": 1}})
    assert body == {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 5, "Custom": 1}}
    assert json.loads(canonical) == body and b" " not in canonical
    assert sorted(dropped) == [".n", ".user"]


def test_unknown_fields_are_dropped_not_forwarded():
    # max_completion_tokens is no field of Ollama's ChatCompletionRequest: Ollama ignores it, so do we.
    body, canonical, dropped = read({"model": "m", "messages": [], "max_completion_tokens": 5},
                                    "ChatCompletionRequest")
    assert "max_completion_tokens" not in body and b"max_completion_tokens" not in canonical
    assert dropped == [".max_completion_tokens"]


def test_escaped_keys_are_read_unescaped():
    # Go unescapes keys before matching: "mod\u0065l" is model.
    body, canonical, _dropped = read(b'{"mod\\u0065l":"llama3.2"}')
    assert body == {"model": "llama3.2"} and canonical == b'{"model":"llama3.2"}'


@pytest.mark.parametrize("struct, raw, expected", [
    ("MessagesRequest", {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
     {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}),
    ("MessagesRequest", {"model": "m", "messages": [{"role": "user", "content": "plain"}]},
     {"model": "m", "messages": [{"role": "user", "content": "plain"}]}),
    ("ResponsesRequest", {"model": "m", "input": "just text"}, {"model": "m", "input": "just text"}),
    ("ResponsesRequest", {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "t"}]}]},
     {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "t"}]}]}),
    ("CreateRequest", {"model": "x", "files": {"Model.GGUF": "sha256:00"}},
     {"model": "x", "files": {"Model.GGUF": "sha256:00"}}),
])
def test_shapes_of_custom_decoders(struct, raw, expected):
    assert read(raw, struct)[0] == expected


# -- what Go would read differently, or not at all --------------------------------------------

@pytest.mark.parametrize("raw, why", [
    ('{"prompt":"\\ud800"}', "surrogate"),
    ('{"prompt":"\\udc00x"}', "surrogate"),
    ('{"model":1}', "wrong JSON type"),
    ('{"model":"m","stream":"yes"}', "wrong JSON type"),
    ('{"model":"m","top_logprobs":1.5}', "wrong JSON type"),
    ('{"model":"m","options":[]}', "wrong JSON type"),
    ('{"model":"m","x":NaN}', "not JSON"),
    ('{"model":"m","x":1e999}', "out of range"),
    ('{"model":"m"} {"model":"other"}', "not valid JSON"),
    ('["model"]', "must be a JSON object"),
    ('{"model":"m"', "not valid JSON"),
])
def test_what_go_reads_otherwise_is_refused(raw, why):
    status, message = refused(raw)
    assert status == 400 and why in message, message


def test_a_key_with_a_surrogate_matches_nothing_and_is_dropped():
    # Go reads "model\ufffd", which is no field: neither Ollama nor the gateway sees a model.
    body, canonical, dropped = read(b'{"model\\ud800":"x","prompt":"p"}')
    assert body == {"prompt": "p"} and b"model" not in canonical and len(dropped) == 1


def test_a_paired_surrogate_is_fine():
    assert read(b'{"prompt":"\\ud83d\\ude00"}')[0] == {"prompt": "\U0001F600"}


def test_invalid_utf8_and_other_encodings_are_refused():
    assert refused(b'{"prompt":"\xff"}')[1] == "the body is not UTF-8"
    assert refused('{"prompt":"x"}'.encode("utf-16"))[1] == "the body is not UTF-8"


def test_deep_nesting_is_400_not_500():
    assert refused("[" * 100000)[0] == 400  # a RecursionError in the service before
    assert refused('{"model":"m","options":' + '{"a":' * 70 + "1" + "}" * 71)[0] == 400
    body = '{"model":"m","options":' + '{"a":' * 60 + "1" + "}" * 61
    assert read(body.encode())[0]["model"] == "m"


def test_element_caps_answer_413():
    many = '{"model":"m","options":{"a":[' + ",".join(["[]"] * (oa.MAX_ELEMENTS + 1)) + "]}}"
    assert refused(many)[0] == 413
    # Scalars cost no objects: the byte limit bounds them.
    values = '{"model":"m","context":[' + ",".join(["1"] * (oa.MAX_ELEMENTS + 1)) + "]}"
    assert len(read(values.encode())[0]["context"]) == oa.MAX_ELEMENTS + 1


def test_empty_body():
    assert oa.read_body(b"", "GenerateRequest") == ({}, b"", [])
    assert oa.read_body(b"  \n", "GenerateRequest") == ({}, b"", [])


# -- H2: the path forwarded is the path classified ---------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/blobs/../generate", "/api/blobs/%2e%2e/chat", "/api/blobs/%2E%2E/chat", "/api/blobs/..%2fgenerate",
    "/api/blobs/../me", "/api/blobs/../experimental/web_fetch", "/v1/models/../x", "/api//pull",
    "/api/./generate", "/api/generate/", "/api/generate%2f", "/api\\generate", "/api/blobs/sha256-abc",
    "/api/blobs/sha256-" + "A" * 64, "/api/blobs/sha256-" + "0" * 64 + "/x", "http://evil/api/generate",
    "/api/gen erate",
])
def test_paths_ollama_could_read_otherwise_are_refused(path):
    with pytest.raises(oa.Refused):
        oa.canonical_path(path)


@pytest.mark.parametrize("raw, expected", [
    ("/api/generate", "/api/generate"), ("/api/generate?debug=1", "/api/generate"), ("/", "/"),
    ("/api/blobs/sha256:" + "a" * 64, "/api/blobs/sha256:" + "a" * 64),
    ("/api/blobs/sha256-" + "0" * 64, "/api/blobs/sha256-" + "0" * 64),
    ("/v1/models/llama3.2:latest", "/v1/models/llama3.2:latest"),
])
def test_canonical_paths(raw, expected):
    assert oa.canonical_path(raw) == expected


def test_every_route_has_a_struct_of_known_fields():
    for path, struct in oa.ROUTE_STRUCTS.items():
        assert struct in oa.STRUCTS, path
    for fields in oa.STRUCTS.values():
        for kind in fields.values():
            for part in (kind if isinstance(kind, tuple) else (kind,)):
                name = part[0] if isinstance(part, list) else part
                assert name in oa.STRUCTS or name in ("str", "bool", "int", "num", "list", "obj", "map_str", "any")
