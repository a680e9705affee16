# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""Published Ollama vulnerabilities that have a fixed version, as data (local_ai's vulnerable_version finding).

Each entry: the advisory id(s), the first affected version (None: every version before the fix), the first
fixed version, one line, and where it was read. Only advisories whose fix is a released version are listed:
a version test cannot find the others. Known and left out, because no fixed version is published or it could
not be confirmed against Ollama's tags: CVE-2025-44779 (fix uncertain), CVE-2024-39719, CVE-2024-12886,
CVE-2025-0315, CVE-2024-12055, CVE-2025-0317, CVE-2025-0312, CVE-2024-8063, CVE-2025-1975, CVE-2025-63389
(no authentication: what this collection's front door is for), CVE-2025-66959/66960, CVE-2026-42248/42249
(Windows updater), CVE-2026-7020, CVE-2026-85180.

Update: read the Go vulnerability database (vulndb, module github.com/ollama/ollama), the GitHub advisories
and the CVE records; check each fixed version against Ollama's git tags; change LAST_CHECKED.
"""

from __future__ import annotations

import re

LAST_CHECKED = "2026-12-01"

ADVISORIES = (
    {"id": "CVE-2024-28224", "aliases": ["GHSA-5jx5-hqx5-2vrj", "GO-2024-2699"], "introduced": None,
     "fixed": "0.1.29", "summary": "DNS rebinding gives a web page the whole API (chat, delete models, DoS)",
     "source": "https://github.com/advisories/GHSA-5jx5-hqx5-2vrj"},
    {"id": "CVE-2024-37032", "aliases": ["GHSA-8hqg-whrw-pv92", "GO-2024-2901"], "introduced": None,
     "fixed": "0.1.34", "summary": "unvalidated blob digest: path traversal, code execution from a rogue registry "
     "(Probllama)", "source": "https://github.com/advisories/GHSA-8hqg-whrw-pv92"},
    {"id": "CVE-2024-39721", "aliases": [], "introduced": None, "fixed": "0.1.34",
     "summary": "/api/create opens a client-chosen path such as /dev/random: endless read (DoS)",
     "source": "https://www.cve.org/CVERecord?id=CVE-2024-39721"},
    {"id": "CVE-2024-39720", "aliases": ["GHSA-95j2-w8x7-hm88", "GO-2024-3245"], "introduced": None,
     "fixed": "0.1.46", "summary": "a 4-byte malformed GGUF through /api/create crashes the server (DoS)",
     "source": "https://github.com/advisories/GHSA-95j2-w8x7-hm88"},
    {"id": "CVE-2024-39722", "aliases": [], "introduced": None, "fixed": "0.1.46",
     "summary": "path traversal in /api/push discloses which files exist on the server",
     "source": "https://www.cve.org/CVERecord?id=CVE-2024-39722"},
    {"id": "CVE-2024-45436", "aliases": ["GHSA-846m-99qv-67mg", "GO-2024-3104"], "introduced": None,
     "fixed": "0.1.47", "summary": "ZIP extraction writes outside the target directory (Zip Slip)",
     "source": "https://github.com/advisories/GHSA-846m-99qv-67mg"},
    {"id": "CVE-2025-51471", "aliases": ["GHSA-x9hg-5q6g-q3jr", "GO-2025-3824"], "introduced": None,
     "fixed": "0.14.3", "summary": "a registry's WWW-Authenticate realm on another host receives the auth token",
     "source": "https://github.com/advisories/GHSA-x9hg-5q6g-q3jr"},
    {"id": "CVE-2026-7482", "aliases": ["GHSA-x8qc-fggm-mpqg", "GO-2026-5748"], "introduced": None,
     "fixed": "0.17.1", "summary": "heap out-of-bounds read in the GGUF loader through /api/create, leaked memory "
     "sent out with /api/push (Bleeding Llama)", "source": "https://github.com/advisories/GHSA-x8qc-fggm-mpqg"},
    {"id": "CVE-2026-102697", "aliases": [], "introduced": "0.14.0", "fixed": "0.31.2",
     "summary": "the experimental agent runs commands appended to an approved one (; &&)",
     "source": "https://www.cve.org/CVERecord?id=CVE-2026-102697"},
    {"id": "CVE-2026-103663", "aliases": [], "introduced": "0.34.2", "fixed": "0.35.0",
     "summary": "/api/pull layer digest path traversal; code execution as root where /usr/lib/ollama is writable",
     "source": "https://cert.pl/en/posts/2026/10/CVE-2026-103663/"},
)

_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.]+))?$")


def parse_version(text):
    """A sortable key for an Ollama release version (0.1.29, 0.33.0-rc2), or None when it is not one.

    0.0.0 is what a build without a version says: unknown, not ancient."""
    match = _VERSION.match((text or "").strip())
    if not match:
        return None
    numbers = tuple(int(part) for part in match.group(1, 2, 3))
    if numbers == (0, 0, 0):
        return None
    prerelease = match.group(4)
    # A pre-release comes before its release: 0.35.0-rc1 < 0.35.0.
    return numbers + ((0, prerelease) if prerelease else (1, ""))


def affecting(version):
    """The advisories that affect this version, oldest fix first; [] when the version is unknown."""
    key = parse_version(version)
    if key is None:
        return []
    found = []
    for advisory in ADVISORIES:
        introduced = parse_version(advisory["introduced"]) if advisory["introduced"] else None
        if key < parse_version(advisory["fixed"]) and (introduced is None or key >= introduced):
            found.append(advisory)
    return found
