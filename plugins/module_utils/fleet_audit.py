# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""The fleet's audit trail on the central host (role audit_collector): the auditor's question "was this text
sent, by whom, on which host, when" answered from every fleet host's shipped journal, rotated files included.

Each fleet host's journal arrives in its own file, named by the host's certificate (never by what the host
writes into its entries); the gateway's audit records are its journal lines that are JSON objects with
prompt_hmacs or response_hmac. A text is found by its HMAC under the key of each record's key_id, so that
records written before a key rotation are found with the old key.
"""

from __future__ import annotations

import glob
import hashlib
import hmac
import json
import os
import re
import subprocess

HOST_FILE = re.compile(r"^(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252})(@[^/]*)?\.journal~?$")
GATEWAY_IDENTIFIER = "llmsec-gateway"


class AuditError(Exception):
    pass


def load_keys(path):
    """{key_id: key bytes} from the key ring file (JSON {key_id: key}); AuditError when unreadable or empty."""
    try:
        with open(path, encoding="utf-8") as handle:
            ring = json.load(handle)
    except (OSError, ValueError) as exc:
        raise AuditError("cannot read the key ring %s: %s" % (path, exc))
    if not isinstance(ring, dict) or not ring or not all(isinstance(key, str) and key for key in ring.values()):
        raise AuditError("the key ring %s must map key ids to keys" % path)
    return {str(key_id): key.encode("utf-8") for key_id, key in ring.items()}


def host_files(directory):
    """{host: [journal files]} of the shipped journals in directory (active and rotated)."""
    hosts = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.journal")) + glob.glob(os.path.join(directory, "*.journal~"))):
        match = HOST_FILE.match(os.path.basename(path))
        if match:
            hosts.setdefault(match.group("host"), []).append(path)
    return hosts


def audit_records(entries):
    """The gateway's audit records among journal entries (journalctl -o json lines, as dicts)."""
    for entry in entries:
        if entry.get("SYSLOG_IDENTIFIER") != GATEWAY_IDENTIFIER:
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # journalctl gives bytes it cannot print as UTF-8 as a list of numbers
            continue
        try:
            record = json.loads(message or "")
        except ValueError:
            continue
        if isinstance(record, dict) and ("prompt_hmacs" in record or "response_hmac" in record):
            yield record


def read_journal(files, since=None):
    """The entries of some journal files, oldest first, as dicts (journalctl reads them)."""
    command = ["journalctl", "--no-pager", "-o", "json", "--merge"] + ["--file=" + path for path in files]
    if since:
        command += ["--since", since]
    command.append("SYSLOG_IDENTIFIER=" + GATEWAY_IDENTIFIER)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 and not result.stdout:
        raise AuditError("journalctl: %s" % result.stderr.strip())
    for line in result.stdout.splitlines():
        try:
            yield json.loads(line)
        except ValueError:
            continue


def find(text, keys, hosts_entries):
    """Where text was sent or answered: [{host, time, subject, endpoint, model, status, key_id, as}] from
    {host: entries}. Records whose key id the ring lacks are counted, not matched."""
    digests = {key_id: hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest() for key_id, key in keys.items()}
    found, unknown = [], 0
    for host, entries in sorted(hosts_entries.items()):
        for record in audit_records(entries):
            digest = digests.get(str(record.get("key_id", "")))
            if digest is None:
                unknown += 1
                continue
            kinds = [kind for kind, hit in (("prompt", digest in (record.get("prompt_hmacs") or [])),
                                            ("response", digest == record.get("response_hmac"))) if hit]
            if kinds:
                found.append({"host": host, "time": record.get("time"), "subject": record.get("subject"),
                              "endpoint": record.get("endpoint"), "model": record.get("model"),
                              "status": record.get("status"), "key_id": record.get("key_id"), "as": kinds})
    return found, unknown
