"""The stand-in must read OLLAMA_HOST and OLLAMA_ORIGINS like Ollama does.

It is a separate program (it runs on test hosts with only the standard
library), so its parsers are checked against Ollama's envconfig, case by case,
and against the origins the collection knows Ollama allows.
"""

import importlib.machinery
import importlib.util
import os

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_env

STANDIN = os.path.join(os.path.dirname(os.path.dirname(__file__)), "ollama_standin", "ollama")


@pytest.fixture(scope="module")
def standin():
    loader = importlib.machinery.SourceFileLoader("ollama_standin", STANDIN)
    spec = importlib.util.spec_from_loader("ollama_standin", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


# What Ollama's envconfig.Host() makes of each OLLAMA_HOST value.
@pytest.mark.parametrize("value, expected", [
    ("", ("http", "127.0.0.1", 11434)),
    ("0.0.0.0", ("http", "0.0.0.0", 11434)),
    ("0.0.0.0:8080", ("http", "0.0.0.0", 8080)),
    ("127.0.0.1:11434", ("http", "127.0.0.1", 11434)),
    ("http://10.0.0.5", ("http", "10.0.0.5", 80)),
    ("https://ollama.example.com", ("https", "ollama.example.com", 443)),
    ("https://ollama.example.com:8443/path", ("https", "ollama.example.com", 8443)),
    ("[::1]:11434", ("http", "::1", 11434)),
    ("::1", ("http", "::1", 11434)),
    ("[::]", ("http", "::", 11434)),
    (":11434", ("http", "", 11434)),  # empty host: Go listens on every address
    ('"0.0.0.0"', ("http", "0.0.0.0", 11434)),
    ("  localhost  ", ("http", "localhost", 11434)),
    ("127.0.0.1:99999", ("http", "127.0.0.1", 11434)),  # a bad port: Ollama falls back to its default
    ("127.0.0.1:http", ("http", "127.0.0.1", 11434)),
])
def test_host_parsing_matches_envconfig(standin, value, expected):
    assert standin.parse_host(value) == expected


def test_builtin_origins_agree(standin, monkeypatch):
    monkeypatch.delenv("OLLAMA_ORIGINS", raising=False)
    assert tuple(standin.allowed_origins()) == ollama_env.BUILTIN_ORIGINS


@pytest.mark.parametrize("origin, allowed", [
    ("http://localhost", True), ("http://localhost:3000", True), ("https://127.0.0.1:8443", True),
    ("app://anything", True), ("https://chat.example.com", True), ("https://a.corp.example", True),
    ("https://evil.example.com", False), ("http://localhost.evil.com", False), ("null", False),
])
def test_cors_matching(standin, monkeypatch, origin, allowed):
    monkeypatch.setenv("OLLAMA_ORIGINS", "https://chat.example.com,https://*.corp.example")
    assert standin.origin_allowed(origin, standin.allowed_origins()) is allowed


def test_star_allows_everything(standin):
    assert standin.origin_allowed("https://evil.example.com", ["*"])


@pytest.mark.parametrize("host, allowed", [
    ("localhost:11434", True), ("127.0.0.1:11434", True), ("[::1]:11434", True), ("10.1.2.3", True),
    ("ollama.local", True), ("x.internal:11434", True), ("evil.com", False), ("evil.com:11434", False),
])
def test_dns_rebinding_guard(standin, host, allowed):
    assert standin.host_header_allowed(host) is allowed


def test_model_names(standin):
    name = standin.ModelName("llama3")
    assert (name.host, name.namespace, name.model, name.tag) == ("registry.ollama.ai", "library", "llama3", "latest")
    assert standin.ModelName("me/m:1b").short == "registry.ollama.ai/me/m:1b"
    assert standin.ModelName("localhost:5000/ns/m:q4").host == "localhost:5000"
    for bad in ("", "../x", "a/../b", "h/n/m/extra"):
        with pytest.raises(ValueError):
            standin.ModelName(bad)
