# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Ollama's settings as Ollama reads them (its envconfig package): OLLAMA_HOST, OLLAMA_ORIGINS, the model
store, booleans.

Pure Python, no Ansible imports: the filter plugins, the modules, local_ai (which roles copy to hosts:
standard library only) and the unit tests all use these functions, so a value is judged the same way
everywhere.
"""

from __future__ import annotations

import ipaddress
import os

DEFAULT_PORT = 11434

# Ollama appends these to OLLAMA_ORIGINS (envconfig.AllowedOrigins); a pinned
# list therefore cannot shrink them.
BUILTIN_ORIGINS = tuple(
    [
        pattern % host
        for host in ("localhost", "127.0.0.1", "0.0.0.0")
        for pattern in ("http://%s", "https://%s", "http://%s:*", "https://%s:*")
    ]
    + ["app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*"]
)

_ORIGIN_SCHEMES = ("http", "https", "app", "file", "tauri", "vscode-webview", "vscode-file",
                   "chrome-extension", "moz-extension")


def classify_address(address):
    """Say what kind of listen address this is.

    Returns a dict with ``kind``: ``loopback``, ``wildcard`` (every interface),
    ``remote`` (one non-loopback address) or ``invalid``; ``ip`` (normalised,
    or None) and ``error`` (why it is invalid, or None).
    """
    if not isinstance(address, str):
        return {"kind": "invalid", "ip": None, "error": "must be a string, got %s" % type(address).__name__}
    text = address.strip()
    if text != address or not text:
        return {"kind": "invalid", "ip": None, "error": "must be a bare IP address or 'localhost', got %r" % address}
    if text.lower() == "localhost":
        # Go resolves localhost and listens on its first address, 127.0.0.1.
        return {"kind": "loopback", "ip": "127.0.0.1", "error": None}
    try:
        ip = ipaddress.ip_address(text.strip("[]") if text.startswith("[") else text)
    except ValueError:
        return {"kind": "invalid", "ip": None,
                "error": "%r is not an IPv4/IPv6 address (host names other than 'localhost' are refused: "
                         "what they resolve to can change under you)" % address}
    if getattr(ip, "ipv4_mapped", None) is not None:
        # ::ffff:a.b.c.d is reached exactly like a.b.c.d.
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        kind = "wildcard"
    elif ip.is_loopback:
        kind = "loopback"
    else:
        kind = "remote"
    return {"kind": kind, "ip": str(ip), "error": None}


def format_host_port(ip, port):
    """OLLAMA_HOST value for an address and a port ('[::1]:11434' for IPv6)."""
    return "[%s]:%d" % (ip, port) if ":" in ip else "%s:%d" % (ip, port)


def origin_errors(origins):
    """Return a list of reasons why this OLLAMA_ORIGINS list is unsafe or malformed.

    Refused: a wildcard that matches any origin ('*', 'http://*', '*://x'),
    entries with a comma or white space (Ollama splits on commas), entries
    without a scheme, and a path, query or fragment (origins never carry one).
    """
    if origins is None:
        return []
    if isinstance(origins, str) or not isinstance(origins, (list, tuple)):
        return ["must be a list of origins such as ['https://chat.example.com'], got %r" % (origins,)]
    errors = []
    for origin in origins:
        if not isinstance(origin, str) or not origin:
            errors.append("%r is not a non-empty string" % (origin,))
            continue
        if origin in BUILTIN_ORIGINS:
            continue  # Ollama allows these anyway; listing them changes nothing
        if origin.strip() == "*":
            errors.append("'*' allows every web page to drive the API from a browser; list the exact origins")
            continue
        if "," in origin or any(ch.isspace() for ch in origin):
            errors.append("%r contains a comma or white space; give one origin per list item" % origin)
            continue
        scheme, sep, rest = origin.partition("://")
        if not sep or not scheme or "*" in scheme:
            errors.append("%r has no scheme; write it as scheme://host[:port]" % origin)
            continue
        if scheme.lower() not in _ORIGIN_SCHEMES:
            errors.append("%r has an unexpected scheme %r" % (origin, scheme))
            continue
        host = rest.split(":", 1)[0] if not rest.startswith("[") else rest
        if not rest or any(ch in rest for ch in "/?#@"):
            errors.append("%r must be scheme://host[:port] with no path, query, fragment or user" % origin)
        elif host in ("*", "") or host.startswith("*") and "." not in host:
            errors.append("%r matches every host; list the exact origins" % origin)
        elif rest.count("*") > 1 or "*" in rest and not host.startswith("*.") and not rest.endswith(":*"):
            errors.append("%r: a wildcard is allowed only as a leading '*.' subdomain or a ':*' port" % origin)
    return errors


def env_value(environment, key):
    """envconfig.Var: the value with surrounding blanks and quotes taken off ('' when unset)."""
    return (environment.get(key) or "").strip().strip("\"'").strip()


def parse_bool(value):
    """Go's strconv.ParseBool: True, False, or None for anything else."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def models_dir(environment, home):
    """envconfig.Models: OLLAMA_MODELS as it is, else $HOME/.ollama/models; None without either."""
    configured = env_value(environment, "OLLAMA_MODELS")
    if configured:
        return configured
    if home and home.startswith("/"):
        return os.path.join(home, ".ollama", "models")
    return None
