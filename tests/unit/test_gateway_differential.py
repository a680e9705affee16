"""Property: the gateway either refuses a request, or Ollama executes exactly what it authorized and audited.

Bodies are generated with the spellings an attacker would try (case variants, U+017F and
U+212A, duplicate keys, unpaired surrogate escapes, unknown keys, nesting), paths with dot
segments and escapes. The gateway's reader (module_utils/ollama_api.py) is run on them; what
it forwards is decoded by the stand-in's Go-faithful decoder (tests/ollama_standin, written
apart from the gateway's reader) and compared with what the gateway decided on.
"""

import importlib.machinery
import importlib.util
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.llmsec.hardening.plugins.module_utils import gateway_policy as gp
from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_api as oa

STANDIN = os.path.join(os.path.dirname(__file__), "..", "ollama_standin", "ollama")
_loader = importlib.machinery.SourceFileLoader("ollama_standin_diff", STANDIN)
_spec = importlib.util.spec_from_loader("ollama_standin_diff", _loader)
standin = importlib.util.module_from_spec(_spec)
_loader.exec_module(standin)

# What the gateway decides or audits on, per route.
DECISION_FIELDS = ("model", "name", "from", "files", "draft_files", "adapters", "remote_host", "insecure",
                   "source", "destination")
ROUTES = ["/api/generate", "/api/chat", "/api/embed", "/api/create", "/api/pull", "/api/copy",
          "/v1/chat/completions", "/v1/completions"]
FIELD_NAMES = sorted({name for route in ROUTES for name in standin.GO_STRUCTS[route]} | {"user", "n"})


def spellings(name):
    """Ways to write a key that Go may match to `name`."""
    variants = st.sampled_from([name, name.upper(), name.capitalize(), name.replace("s", "\u017f"),
                                name.replace("k", "\u212a"), name.swapcase(), name + "\\u0000"[:0]])
    escaped = st.just("".join("\\u%04x" % ord(c) if c == "e" else c for c in name))
    return st.one_of(variants, escaped)


def text():
    plain = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
    surrogate = st.sampled_from(["\\ud800", "\\udfff", "a\\ud83d", "\\ud83d\\ude00"])
    return st.one_of(plain.map(lambda s: json.dumps(s)[1:-1]), surrogate)


def string_value():
    return st.one_of(text().map(lambda s: '"%s"' % s),
                     st.sampled_from(['"llama3.2"', '"secret-model"', '"tiny:1b"', '"evil.example.com/x/y"']))


def value(depth=0):
    scalars = st.one_of(string_value(), st.sampled_from(["true", "false", "null", "1", "-2.5", "1e3"]))
    if depth > 2:
        return scalars
    return st.one_of(scalars,
                     st.lists(st.deferred(lambda: value(depth + 1)), max_size=3).map(lambda v: "[%s]" % ",".join(v)),
                     obj(depth + 1))


def obj(depth=0):
    key = st.one_of(st.sampled_from(FIELD_NAMES).flatmap(spellings), st.sampled_from(["role", "content", "text"]),
                    st.sampled_from(["x", "Role", "CONTENT"]))
    pair = st.tuples(key, st.deferred(lambda: value(depth + 1)))
    return st.lists(pair, max_size=6).map(lambda pairs: "{%s}" % ",".join('"%s":%s' % kv for kv in pairs))


def messages():
    message = st.lists(st.tuples(st.sampled_from(["role", "content", "Content", "CONTENT", "thinking", "x"]),
                                 string_value()), max_size=4)
    return st.lists(message.map(lambda pairs: "{%s}" % ",".join('"%s":%s' % kv for kv in pairs)), max_size=3)


@st.composite
def bodies(draw):
    route = draw(st.sampled_from(ROUTES))
    names = list(standin.GO_STRUCTS[route]) + ["user"]
    pairs = []
    for _index in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(names))
        spelled = draw(spellings(name))
        if name == "messages":
            raw = "[%s]" % ",".join(draw(messages()))
        elif name in ("files", "adapters", "draft_files", "options"):
            raw = draw(obj(1))
        else:
            raw = draw(st.one_of(string_value(), value(1)))
        pairs.append('"%s":%s' % (spelled, raw))
    return route, ("{%s}" % ",".join(pairs)).encode("utf-8")


def project(body):
    """The parts of a decoded body that decisions and the audit rest on."""
    out = {}
    for name in DECISION_FIELDS:
        if body.get(name) not in (None, "", {}):
            out[name] = body[name]
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_gateway_refuses_or_ollama_executes_what_was_checked(case):
    route, raw = case
    struct = oa.ROUTE_STRUCTS[route]
    try:
        body, canonical, _dropped = oa.read_body(raw, struct)
    except oa.Refused:
        return
    try:
        executed = standin.go_decode(canonical, route)
    except standin.GoDecodeError:
        # Ollama refuses what we forward (a value of a type only Ollama checks): nothing executes.
        return
    original = standin.go_decode(raw, route)
    assert project(executed) == project(body), (raw, canonical)
    assert project(original) == project(executed), (raw, canonical)
    assert gp.prompt_texts(body) == standin.prompt_texts(executed), (raw, canonical)


@st.composite
def paths(draw):
    segment = st.sampled_from(["api", "blobs", "generate", "chat", "..", ".", "%2e%2e", "%2E.", "", "v1",
                               "models", "sha256-" + "0" * 64, "me", "%2f", "pull"])
    return "/" + "/".join(draw(st.lists(segment, min_size=1, max_size=5)))


def dot_free_normalisation(path):
    """What a URL normaliser or a router that resolves dot segments would make of a path."""
    out = []
    for segment in path.replace("%2e", ".").replace("%2E", ".").replace("%2f", "/").split("/")[1:]:
        if segment == "..":
            out = out[:-1]
        elif segment not in (".", ""):
            out.append(segment)
    return "/" + "/".join(out)


@settings(max_examples=300, deadline=None)
@given(paths())
def test_a_path_is_refused_or_means_the_same_to_everyone(path):
    try:
        canonical = oa.canonical_path(path)
    except oa.Refused:
        return
    # Whatever normalises it on the way (yarl, nginx, a router) reads the same route.
    assert canonical == path and dot_free_normalisation(canonical) == canonical.rstrip("/") or canonical == "/"
    try:
        action, endpoint = gp.classify("POST", canonical)
    except gp.Denied:
        return
    if action == "blobs":
        assert oa.BLOB_PATH.match(canonical)
    else:
        assert endpoint == canonical
