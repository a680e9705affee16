import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_env


@pytest.mark.parametrize("address, kind, ip", [
    ("127.0.0.1", "loopback", "127.0.0.1"),
    ("127.0.0.53", "loopback", "127.0.0.53"),
    ("::1", "loopback", "::1"),
    ("[::1]", "loopback", "::1"),
    ("localhost", "loopback", "127.0.0.1"),
    ("LOCALHOST", "loopback", "127.0.0.1"),
    ("0.0.0.0", "wildcard", "0.0.0.0"),
    ("::", "wildcard", "::"),
    ("10.1.2.3", "remote", "10.1.2.3"),
    ("fe80::1", "remote", "fe80::1"),
    ("::ffff:127.0.0.1", "loopback", "127.0.0.1"),
    ("::ffff:10.0.0.1", "remote", "10.0.0.1"),
])
def test_classify_address(address, kind, ip):
    info = ollama_env.classify_address(address)
    assert (info["kind"], info["ip"], info["error"]) == (kind, ip, None)


@pytest.mark.parametrize("address", ["", " 127.0.0.1", "10.0.0.300", "ollama.example.com",
                                     "127.0.0.1:11434", None, 127, "1.2.3.4/8", "x" * 10000])
def test_classify_address_rejects(address):
    info = ollama_env.classify_address(address)
    assert info["kind"] == "invalid"
    assert info["error"]


def test_format_host_port():
    assert ollama_env.format_host_port("127.0.0.1", 11434) == "127.0.0.1:11434"
    assert ollama_env.format_host_port("::1", 8080) == "[::1]:8080"


@pytest.mark.parametrize("origins", [
    [], None, ["https://chat.example.com"], ["http://localhost:3000", "https://*.example.com"],
    ["app://*"], ["https://chat.example.com:*"], ["chrome-extension://abcdef"],
])
def test_origins_accepted(origins):
    assert ollama_env.origin_errors(origins) == []


@pytest.mark.parametrize("origins, fragment", [
    (["*"], "'*' allows every web page"),
    ([" * "], "'*' allows every web page"),
    (["http://*"], "matches every host"),
    (["https://*:443"], "matches every host"),
    (["*://chat.example.com"], "has no scheme"),
    (["chat.example.com"], "has no scheme"),
    (["https://a.example.com,https://b.example.com"], "comma"),
    (["https://chat.example.com/app"], "no path"),
    (["https://user@chat.example.com"], "no path, query, fragment or user"),
    (["https://chat.*.example.com"], "leading '*.'"),
    (["gopher://chat.example.com"], "unexpected scheme"),
    (["chrome-extension://*"], "matches every host"),
    ([""], "not a non-empty string"),
    ([42], "not a non-empty string"),
    ("https://chat.example.com", "must be a list"),
])
def test_origins_refused(origins, fragment):
    errors = ollama_env.origin_errors(origins)
    assert errors and fragment in " ".join(errors)


def test_builtin_origins_are_ollamas():
    assert "http://localhost:*" in ollama_env.BUILTIN_ORIGINS
    assert "https://0.0.0.0" in ollama_env.BUILTIN_ORIGINS
    assert "vscode-file://*" in ollama_env.BUILTIN_ORIGINS
    assert len(ollama_env.BUILTIN_ORIGINS) == 17
