# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""The audit log's records of module_utils/audit_rules.py's rules, as events and counters.

auditd writes one line per record (type=SYSCALL, PATH, SOCKADDR, PROCTITLE...), the
records of one event sharing msg=audit(<time>:<serial>). Fields are name=value, a
value quoted, hex-encoded (when it holds spaces or quotes) or bare; with log_format
ENRICHED, interpreted fields follow a 0x1d separator and are ignored here (the raw
ones are what the kernel said).
"""

from __future__ import annotations

import binascii
import ipaddress
import json
import os
import re
import socket
import struct
import time

try:
    from ansible_collections.llmsec.hardening.plugins.module_utils import atomic_file, audit_rules, change_window
except ImportError:  # installed beside the timer's entry point
    import atomic_file
    import audit_rules
    import change_window

KEY_PREFIX = "llmsec_"
# Keys whose events a change window explains (writes, and Ollama's pulls connecting out): labelled with whether a
# model change window was open at the time.
CHANGE_KEYS = ("llmsec_model_write", "llmsec_ai_config", "llmsec_ai_connect")
# Distinct (key, user, exe, window) label sets kept; beyond, exe becomes "other" (a bounded series count).
MAX_SERIES = 200
LAST_EVENTS = 50
# Where the role's consumer keeps its counters and last events (root-only).
DEFAULT_STATE = "/var/lib/llmsec/ai-activity/state.json"
# The last events a summary carries (local_ai_facts, the fleet report).
SUMMARY_EVENTS = 10
_RECORD = re.compile(r"^type=(\S+) msg=audit\((\d+)\.(\d+):(\d+)\):\s?(.*)$")
_FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')
# Fields whose bare value is hex-encoded text (auditd's untrusted strings).
_ENCODED = ("comm", "exe", "name", "proctitle", "key", "cwd")
_HEX = re.compile(r"^[0-9A-F]+$")


def _decode(name, value):
    if value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    if name in _ENCODED and value != "(null)" and _HEX.match(value) and len(value) % 2 == 0:
        try:
            text = binascii.unhexlify(value).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return value
        # proctitle separates arguments with NUL; a key holds several keys separated by 0x01.
        return text.replace("\0", " ").replace("\x01", ",").strip()
    return value


def parse_line(line):
    """(type, event id, fields) of one record, or None for a line that is no audit record."""
    line = line.rstrip("\n").split("\x1d", 1)[0]
    match = _RECORD.match(line)
    if not match:
        return None
    rtype, seconds, millis, serial, rest = match.groups()
    fields = dict((name, _decode(name, value)) for name, value in _FIELD.findall(rest))
    return rtype, ("%s.%s" % (seconds, millis), int(serial)), fields


def sockaddr(hexed):
    """(family, address, port) of a SOCKADDR record's saddr, or None for a family that is not IP."""
    try:
        raw = binascii.unhexlify(hexed)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 2:
        return None
    family = struct.unpack("<H", raw[:2])[0]
    if family == socket.AF_INET and len(raw) >= 8:
        return "inet", str(ipaddress.IPv4Address(raw[4:8])), struct.unpack(">H", raw[2:4])[0]
    if family == socket.AF_INET6 and len(raw) >= 24:
        return "inet6", str(ipaddress.IPv6Address(raw[8:24])), struct.unpack(">H", raw[2:4])[0]
    return None


def events(lines):
    """The events of audit log lines, in order: each a dict with time, serial, key (the first llmsec_ key),
    the SYSCALL fields (syscall, success, uid, auid, pid, comm, exe), paths (PATH names), address (from
    SOCKADDR) and proctitle. Records of events without an llmsec_ key are dropped."""
    grouped = {}
    order = []
    for line in lines:
        parsed = parse_line(line)
        if not parsed:
            continue
        rtype, event_id, fields = parsed
        if event_id not in grouped:
            grouped[event_id] = {"time": float(event_id[0]), "serial": event_id[1], "paths": []}
            order.append(event_id)
        event = grouped[event_id]
        if rtype == "SYSCALL":
            keys = [key for key in fields.get("key", "").split(",") if key.startswith(KEY_PREFIX)]
            event["key"] = keys[0] if keys else None
            for name in ("syscall", "success", "uid", "auid", "pid", "comm", "exe"):
                event[name] = fields.get(name)
        elif rtype == "PATH" and fields.get("name") not in (None, "(null)"):
            event["paths"].append(fields["name"])
        elif rtype == "SOCKADDR":
            event["address"] = sockaddr(fields.get("saddr", ""))
        elif rtype == "PROCTITLE":
            event["proctitle"] = fields.get("proctitle")
        elif rtype == "CONFIG_CHANGE" and fields.get("key", "").startswith(KEY_PREFIX):
            event["key"] = fields["key"]
            event["config_change"] = fields.get("op")
    return [grouped[event_id] for event_id in order if grouped[event_id].get("key")]


def is_loopback(address):
    """A connection that stays on the host: loopback, IPv4 loopback mapped into IPv6, or the unspecified address
    (which Linux connects to the host itself)."""
    if not address:
        return False
    ip = ipaddress.ip_address(address[1])
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or ip.is_unspecified or bool(mapped and (mapped.is_loopback or mapped.is_unspecified))


def kept(event):
    """Whether an event counts: a connection counts when it went off loopback (the kernel cannot filter by
    address, so loopback connections - Ollama to its runners - are audited and dropped here)."""
    if event["key"] == "llmsec_ai_connect":
        return event.get("address") is not None and not is_loopback(event["address"])
    return True


def read_new(path, state):
    """The lines written to the audit log since the last run, and the state to keep (inode, offset). After a
    rotation (auditd renames audit.log to audit.log.1) the rest of the old file is read first; a first run
    starts at the end, so history is not counted as new."""
    lines = []
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return lines, state
    if not state:
        return lines, {"inode": info.st_ino, "offset": info.st_size}
    offset = state.get("offset", 0)
    if state.get("inode") != info.st_ino:
        rotated = path + ".1"
        try:
            if os.stat(rotated).st_ino == state.get("inode"):
                with open(rotated, "rb") as handle:
                    handle.seek(offset)
                    lines.extend(line.decode("utf-8", "replace") for line in handle.read().splitlines())
        except FileNotFoundError:
            pass
        offset = 0
    elif info.st_size < offset:  # truncated
        offset = 0
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    # A record being written is read next time: only whole lines count.
    whole = data[:data.rfind(b"\n") + 1]
    lines.extend(line.decode("utf-8", "replace") for line in whole.splitlines())
    return lines, {"inode": info.st_ino, "offset": offset + len(whole)}


def in_window(window, when):
    """Whether a change at time `when` fell inside the host's model change window (change_window.state)."""
    return bool(window and not window.get("error") and "until" in window
                and window["opened"] <= when < window["until"])


def tally(found, users, window, counts):
    """Add events (the kept ones, as run() selects them) to counts: {(key, user, exe, window): n}. users:
    {uid: name}."""
    for event in found:
        user = users.get(event.get("uid"), event.get("uid") or "?")
        label = ("open" if in_window(window, event["time"]) else "closed") if event["key"] in CHANGE_KEYS else ""
        series = (event["key"], user, event.get("exe") or "?", label)
        if series not in counts and len(counts) >= MAX_SERIES:
            series = (event["key"], user, "other", label)
        counts[series] = counts.get(series, 0) + 1
    return counts


def health(status, loaded, expected):
    """Whether the kernel's audit can see for the role: from `auditctl -s` (status), `auditctl -l` (loaded) and
    the role's rules file (expected). enabled: auditing on and auditd receiving (enabled 1 or 2, a pid); lost:
    the events the kernel dropped since boot; rules_missing: rules of the file with one of our keys that the
    kernel does not have (someone ran auditctl -D, or the file changed without a reload). None where a text
    could not be read."""
    result = {"enabled": None, "lost": None, "rules_missing": None}
    if status is not None:
        fields = dict(line.split(" ", 1) for line in status.splitlines() if " " in line)
        if fields.get("enabled", "").strip().isdigit() and fields.get("pid", "").strip().isdigit():
            result["enabled"] = int(fields["enabled"]) in (1, 2) and int(fields["pid"]) > 0
        if fields.get("lost", "").strip().isdigit():
            result["lost"] = int(fields["lost"])
    if loaded is not None and expected is not None:
        result["rules_missing"] = len(audit_rules.missing(expected, loaded))
    return result


def render_metrics(counts, now, state=None):
    """node_exporter textfile: counters by key, user, executable and (for changes) window, and the audit's
    health (health())."""
    lines = ["# HELP llmsec_ai_activity_events_total Audit events of the ai_activity_audit rules, by key, user, "
             "executable and, for changes, whether a model change window was open.",
             "# TYPE llmsec_ai_activity_events_total counter"]
    for (key, user, exe, window), value in sorted(counts.items()):
        labels = 'key="%s",user="%s",exe="%s"' % (key, _label(user), _label(exe))
        if window:
            labels += ',window="%s"' % window
        lines.append("llmsec_ai_activity_events_total{%s} %d" % (labels, value))
    state = state or {}
    for name, value, text in (
            ("audit_lost", state.get("lost"), "Events the kernel's audit dropped since boot (auditctl -s lost)."),
            ("audit_enabled", state.get("enabled"), "1 when the kernel audits and auditd receives (auditctl -s)."),
            ("rules_missing", state.get("rules_missing"),
             "Rules of the role's file that the kernel does not have (auditctl -l).")):
        if value is not None:
            lines += ["# HELP llmsec_ai_activity_%s %s" % (name, text), "# TYPE llmsec_ai_activity_%s gauge" % name,
                      "llmsec_ai_activity_%s %d" % (name, int(value))]
    lines += ["# HELP llmsec_ai_activity_last_run_timestamp_seconds When the audit log was last read.",
              "# TYPE llmsec_ai_activity_last_run_timestamp_seconds gauge",
              "llmsec_ai_activity_last_run_timestamp_seconds %d" % now]
    return "\n".join(lines) + "\n"


def _label(value):
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def run(config, users, audit=None, now=None):
    """One pass of the consumer: the new audit log lines into the counters, the textfile and the last events.
    config: audit_log, state (the position, counters and last events), textfile, window (the change window
    file). audit: health()'s result, for the textfile."""
    now = time.time() if now is None else now
    try:
        with open(config["state"], encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        state = {}
    lines, position = read_new(config["audit_log"], state.get("position"))
    found = [event for event in events(lines) if kept(event)]
    window = change_window.state(config.get("window", change_window.DEFAULT_PATH), now)
    counts = dict((tuple(item[0]), item[1]) for item in state.get("counts", []))
    tally(found, users, window, counts)
    last = (state.get("last", []) + found)[-LAST_EVENTS:]
    atomic_file.write_atomic(config["state"], json.dumps({
        "since": state.get("since", int(now)), "position": position, "last": last,
        "counts": [[list(series), value] for series, value in sorted(counts.items())]}), 0o600)
    if config.get("textfile"):
        atomic_file.write_atomic(config["textfile"], render_metrics(counts, now, audit))
    return found, counts


def summary(path=DEFAULT_STATE):
    """What the consumer has counted on this host, for local_ai_facts and the fleet report: present (the role's
    consumer has run), since (its first run), counts (events by key), outside_window (of the keys a change
    window explains, the events outside one), by_user ({key: {user: n}}) and the last events (time, key, uid,
    exe, paths, address). Unreadable or malformed state: present with an error."""
    result = {"path": path, "present": os.path.exists(path), "error": None, "since": None, "counts": {},
              "outside_window": {}, "by_user": {}, "last": []}
    if not result["present"]:
        return result
    try:
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        series = [((key, user, window), int(value)) for (key, user, _exe, window), value in state.get("counts", [])]
    except (OSError, ValueError, TypeError) as err:
        result["error"] = "%s: %s" % (path, err)
        return result
    result["since"] = state.get("since")
    for (key, user, window), value in series:
        result["counts"][key] = result["counts"].get(key, 0) + value
        users = result["by_user"].setdefault(key, {})
        users[user] = users.get(user, 0) + value
        if window == "closed":
            result["outside_window"][key] = result["outside_window"].get(key, 0) + value
    result["last"] = [dict((name, event.get(name)) for name in ("time", "key", "uid", "exe", "paths", "address"))
                      for event in state.get("last", [])[-SUMMARY_EVENTS:]]
    return result
