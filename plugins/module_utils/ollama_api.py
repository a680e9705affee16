# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Read a request to Ollama the way Ollama reads it, or refuse it.

The auth gateway decides on what this module returns and forwards exactly
that: the canonical path and the canonical re-serialisation of the body.
Whatever Ollama could read differently from us is refused with 400:

* paths: percent-escapes, dot segments, empty segments, backslashes, and
  blob digests or model names that are not canonical;
* bodies: keys that Go's encoding/json would match to a field of Ollama's
  request struct but that are not that field's exact spelling (Go matches
  case-insensitively, and folds U+017F to s and U+212A to k), two keys
  for one field (Go keeps the last, we would have read one of them), a
  duplicate key anywhere, unpaired UTF-16 surrogates (Go turns them into
  U+FFFD), non-finite numbers, a field of the wrong JSON type, nesting
  deeper than MAX_DEPTH or more than MAX_ELEMENTS values.

Keys that are no field of the request struct are dropped (Ollama ignores
them); their names are returned so that the audit can say so.

The structs are Ollama's (api/types.go, openai/, anthropic/ of the release
pinned in REFERENCE). Standard library only: this file is copied to hosts.
"""

from __future__ import annotations

import json
import math
import re

REFERENCE = "Ollama at commit fb30760 (2026-08): api/types.go, openai/openai.go, openai/responses.go, anthropic/anthropic.go"
MAX_DEPTH = 64
MAX_ELEMENTS = 100000  # objects and arrays; the byte limit bounds the rest

# A JSON type per field: str, bool, int, num, list (any array), obj (a map: any
# keys, read verbatim by Go), map_str (a map of strings), any, a struct name from
# STRUCTS, [struct name] for an array of them, or a tuple of the two shapes a
# custom UnmarshalJSON accepts (a string, or an array of structs).
_S, _B, _I, _N, _L, _O, _MS, _A = "str", "bool", "int", "num", "list", "obj", "map_str", "any"

STRUCTS = {
    # api/types.go
    "GenerateRequest": {
        "model": _S, "prompt": _S, "suffix": _S, "system": _S, "template": _S, "context": _L,
        "stream": _B, "raw": _B, "format": _A, "keep_alive": _A, "images": _L, "options": _O,
        "think": _A, "truncate": _B, "shift": _B, "_debug_render_only": _B, "logprobs": _B,
        "top_logprobs": _I,
    },
    "ChatRequest": {
        "model": _S, "messages": ["Message"], "stream": _B, "format": _A, "keep_alive": _A,
        "tools": _L, "options": _O, "think": _A, "truncate": _B, "shift": _B,
        "_debug_render_only": _B, "logprobs": _B, "top_logprobs": _I,
    },
    "Message": {
        "role": _S, "content": _S, "thinking": _S, "images": _L, "tool_calls": _L,
        "tool_name": _S, "tool_call_id": _S,
    },
    "EmbedRequest": {
        "model": _S, "input": _A, "keep_alive": _A, "truncate": _B, "dimensions": _I, "options": _O,
    },
    "EmbeddingRequest": {"model": _S, "prompt": _S, "keep_alive": _A, "options": _O},
    "CreateRequest": {
        "model": _S, "stream": _B, "quantize": _S, "draft_quantize": _S, "from": _S, "remote_host": _S,
        "files": _MS, "draft_files": _MS, "adapters": _MS, "template": _S, "license": _A, "system": _S,
        "parameters": _O, "messages": ["Message"], "renderer": _S, "parser": _S, "requires": _S,
        "info": _O, "name": _S, "quantization": _S,
    },
    "ShowRequest": {"model": _S, "system": _S, "template": _S, "verbose": _B, "options": _O, "name": _S},
    "CopyRequest": {"source": _S, "destination": _S},
    "DeleteRequest": {"model": _S, "name": _S},
    "PullRequest": {"model": _S, "insecure": _B, "username": _S, "password": _S, "stream": _B, "name": _S},
    "PushRequest": {"model": _S, "insecure": _B, "username": _S, "password": _S, "stream": _B, "name": _S},
    # openai/openai.go
    "ChatCompletionRequest": {
        "model": _S, "messages": ["OpenAIMessage"], "stream": _B, "stream_options": "StreamOptions",
        "max_tokens": _I, "seed": _I, "stop": _A, "temperature": _N, "frequency_penalty": _N,
        "presence_penalty": _N, "top_p": _N, "response_format": _O, "tools": _L, "reasoning": _O,
        "reasoning_effort": _S, "logprobs": _B, "top_logprobs": _I, "_debug_render_only": _B,
    },
    # content: a string, or parts that Ollama reads as maps (exact keys)
    "OpenAIMessage": {
        "role": _S, "content": _A, "reasoning": _S, "tool_calls": _L, "name": _S, "tool_call_id": _S,
    },
    "StreamOptions": {"include_usage": _B},
    "CompletionRequest": {
        "model": _S, "prompt": _S, "frequency_penalty": _N, "max_tokens": _I, "presence_penalty": _N,
        "seed": _I, "stop": _A, "stream": _B, "stream_options": "StreamOptions", "temperature": _N,
        "top_p": _N, "suffix": _S, "logprobs": _I, "_debug_render_only": _B,
    },
    "OpenAIEmbedRequest": {"input": _A, "model": _S, "dimensions": _I, "encoding_format": _S},
    # openai/responses.go
    "ResponsesRequest": {
        "model": _S, "background": _B, "conversation": _A, "include": _L, "input": (_S, ["ResponsesPart"]),
        "instructions": _S, "max_output_tokens": _I, "reasoning": _O, "temperature": _N, "text": _O,
        "top_p": _N, "truncation": _S, "tools": _L, "stream": _B,
    },
    # Input items and their content parts are structs chosen by "type"; one
    # struct with all their fields reads them all.
    "ResponsesPart": {
        "id": _S, "type": _S, "role": _S, "content": (_S, ["ResponsesPart"]), "text": _S, "detail": _S,
        "file_id": _S, "image_url": _S, "file_data": _S, "file_url": _S, "filename": _S, "call_id": _S,
        "name": _S, "arguments": _S, "output": (_S, ["ResponsesPart"]), "summary": ["ResponsesPart"],
        "encrypted_content": _S, "status": _S, "action": _A,
    },
    # anthropic/anthropic.go
    "MessagesRequest": {
        "model": _S, "max_tokens": _I, "messages": ["AnthropicMessage"], "system": _A, "stream": _B,
        "temperature": _N, "top_p": _N, "top_k": _I, "stop_sequences": _L, "tools": _L,
        "tool_choice": _O, "thinking": _O, "metadata": _O, "output_config": _O,
    },
    "AnthropicMessage": {"role": _S, "content": (_S, ["ContentBlock"])},
    "ContentBlock": {
        "type": _S, "text": _S, "citations": _A, "source": _O, "id": _S, "name": _S, "input": _O,
        "tool_use_id": _S, "content": _A, "is_error": _B, "thinking": _S, "signature": _S,
    },
    # the gateway's own
    "AuditVerifyRequest": {"text": _S},
}

# The struct each route decodes its body into (server/routes.go; the /v1 routes
# through their middleware's struct).
ROUTE_STRUCTS = {
    "/api/generate": "GenerateRequest",
    "/api/chat": "ChatRequest",
    "/api/embed": "EmbedRequest",
    "/api/embeddings": "EmbeddingRequest",
    "/api/create": "CreateRequest",
    "/api/show": "ShowRequest",
    "/api/copy": "CopyRequest",
    "/api/delete": "DeleteRequest",
    "/api/pull": "PullRequest",
    "/api/push": "PushRequest",
    "/v1/chat/completions": "ChatCompletionRequest",
    "/v1/completions": "CompletionRequest",
    "/v1/embeddings": "OpenAIEmbedRequest",
    "/v1/responses": "ResponsesRequest",
    "/v1/messages": "MessagesRequest",
    "/llmsec/audit/verify": "AuditVerifyRequest",
}

BLOB_PATH = re.compile(r"^/api/blobs/sha256[-:][0-9a-f]{64}$")
_PATH_CHARS = re.compile(r"^/[A-Za-z0-9._~:@!$&'()*+,;=/-]*$")
# Go's encoding/json folds a key to its field name's: ASCII letters in either
# case, and the two non-ASCII runes whose simple case folding reaches ASCII.
_GO_FOLD = {ord(c): ord(c.upper()) for c in "abcdefghijklmnopqrstuvwxyz"}
_GO_FOLD.update({0x017F: ord("S"), 0x212A: ord("K")})


class Refused(ValueError):
    """The request cannot be read the way Ollama would read it. status: 400 or 413."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def go_fold(name):
    """The key Go's encoding/json compares with a struct field's name."""
    return name.translate(_GO_FOLD)


_FOLDED = {struct: {go_fold(name): name for name in fields} for struct, fields in STRUCTS.items()}


# --------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------

def canonical_path(raw_path):
    """The path of a request target as Ollama's router will see it, or Refused.

    raw_path is the target as received (before any decoding). The query is
    dropped: no Ollama route reads one, and what is not forwarded cannot be
    read differently.
    """
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    if "%" in path:
        raise Refused("percent-escapes are not allowed in the path")
    if "\\" in path or not _PATH_CHARS.match(path):
        raise Refused("the path has characters Ollama's routes do not use")
    segments = path.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        raise Refused("dot segments are not allowed in the path")
    if any(segment == "" for segment in segments[:-1]) or (path != "/" and path.endswith("/")):
        raise Refused("empty path segments are not allowed")
    if path.startswith("/api/blobs/") and not BLOB_PATH.match(path):
        raise Refused("a blob path must be /api/blobs/sha256-<64 hex digits>")
    return path


# --------------------------------------------------------------------------
# Bodies
# --------------------------------------------------------------------------

class _Object(dict):
    """A JSON object whose keys are distinct, even to Go's case-insensitive matching."""


def _object(pairs):
    """object_pairs_hook: refuse duplicate keys, and keys that Go could take for one another."""
    obj = _Object(pairs)
    # All keys folded in one call (a key holding NUL only sends us down the exact path).
    if len(obj) != len(pairs) or len(set("\0".join(obj).translate(_GO_FOLD).split("\0"))) != len(obj):
        seen = {}
        for key, _value in pairs:
            if go_fold(key) in seen:
                raise Refused("the key %r is given twice (as %r; Ollama matches keys without regard to case)"
                              % (key[:40], seen[go_fold(key)][:40]))
            seen[go_fold(key)] = key
    return obj


def _parse_constant(name):
    raise Refused("%s is not JSON" % name)


def _parse_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise Refused("the number %s is out of range" % text[:40])
    return value


_TYPES = {_S: str, _B: bool, _I: int, _N: (int, float), _L: list, _O: _Object, _MS: _Object}


def _nesting(value, depth, where):
    """Refuse nesting deeper than MAX_DEPTH below a free value (containers only are visited)."""
    stack = [(value, depth)]
    while stack:
        node, level = stack.pop()
        if level > MAX_DEPTH:
            raise Refused("the body nests deeper than %d (in %s)" % (MAX_DEPTH, where or "the body"))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))


class _Reader:
    def __init__(self):
        self.dropped = []

    def value(self, value, kind, where, depth):
        """Check one value against its field type; returns it, structs reduced to their fields."""
        if value is None:
            return None
        if isinstance(kind, tuple):
            kind = kind[0] if isinstance(value, str) else kind[1]
        if isinstance(kind, list):
            if not isinstance(value, list):
                raise Refused("%s must be a JSON array" % where)
            return [self.value(item, kind[0], "%s[%d]" % (where, index), depth + 1)
                    for index, item in enumerate(value)]
        if kind in STRUCTS:
            if not isinstance(value, _Object):
                raise Refused("%s must be a JSON object" % where)
            return self.struct(value, kind, where, depth + 1)
        expected = _TYPES.get(kind)
        if expected is not None and (not isinstance(value, expected)
                                     or (kind in (_I, _N) and isinstance(value, bool))):
            raise Refused("%s has the wrong JSON type" % where)
        if kind == _MS and not all(isinstance(item, str) for item in value.values()):
            raise Refused("%s must map names to strings" % where)
        if isinstance(value, (dict, list)):
            _nesting(value, depth + 1, where)
        return value

    def struct(self, obj, struct, where, depth):
        if depth > MAX_DEPTH:
            raise Refused("the body nests deeper than %d (in %s)" % (MAX_DEPTH, where or "the body"))
        fields, folded = STRUCTS[struct], _FOLDED[struct]
        out = {}
        for key, item in obj.items():
            name = folded.get(go_fold(key))
            if name is None:
                self.dropped.append(("%s.%s" % (where, key))[:80])
                continue
            if key != name:
                raise Refused("%r is not how Ollama spells the field %r (in %s)"
                              % (key[:40], name, where or "the body"))
            out[name] = self.value(item, fields[name], "%s.%s" % (where, name), depth)
        return out


def read_body(raw, struct):
    """Decode a request body for Ollama struct `struct` the way Ollama would.

    Returns (body, canonical_bytes, dropped): the fields Ollama reads, their
    compact re-serialisation (what is forwarded), and the names of dropped
    unknown keys. An empty body gives ({}, b"", []). Raises Refused.
    """
    if not raw or not raw.strip():
        return {}, b"", []
    # A cheap bound before any object is built: every container opens with { or [.
    if raw.count(b"{") + raw.count(b"[") > MAX_ELEMENTS:
        raise Refused("the body has more than %d JSON objects and arrays" % MAX_ELEMENTS, 413)
    try:
        # UTF-8 only: json.loads would guess UTF-16 or UTF-32 from a byte string.
        tree = json.loads(raw.decode("utf-8"), object_pairs_hook=_object, parse_constant=_parse_constant,
                          parse_float=_parse_float)
    except RecursionError:
        raise Refused("the body nests deeper than %d" % MAX_DEPTH)
    except UnicodeDecodeError:
        raise Refused("the body is not UTF-8")
    except Refused:
        raise
    except ValueError as exc:
        raise Refused("the body is not valid JSON: %s" % str(exc)[:80])
    if not isinstance(tree, _Object):
        raise Refused("the body must be a JSON object")
    reader = _Reader()
    body = reader.struct(tree, struct, "", 0)
    try:
        canonical = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        # Only an unpaired surrogate escape (\ud800) makes text that UTF-8 cannot carry; Go reads U+FFFD.
        raise Refused("the body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff)")
    return body, canonical, reader.dropped
