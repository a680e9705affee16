# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where a systemd service gets its environment, and how to make ours win.

A service's environment comes from ``Environment=`` lines in its unit file and
in every drop-in (applied in file-name order, later wins), and then from
``EnvironmentFile=`` files, which override ``Environment=``. A managed drop-in
alone is therefore not enough: ``systemctl edit`` writes ``override.conf``,
which sorts after most names, and an EnvironmentFile beats any drop-in.

This module finds every assignment of the watched keys, says which ones
conflict with the wanted values, renders our drop-in, and rewrites a
conflicting file with only the offending assignments taken out.

Pure Python, no Ansible imports, unit-tested on its own.
"""

from __future__ import annotations

import os
import re
import shlex

MARKER = "llmsec.hardening"

# Unit search path, highest priority first (systemd.unit(5)). A drop-in in a
# higher-priority directory masks one of the same name in a lower one.
UNIT_DIRS = (
    "/etc/systemd/system.control",
    "/run/systemd/system.control",
    "/run/systemd/transient",
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)

# Where administrators' units and drop-ins live, and so where ours goes.
ETC_UNIT_DIR = "/etc/systemd/system"

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UnitEnvError(Exception):
    """Input that cannot be handled; the message names what was wrong."""


def unit_file_name(unit):
    """'ollama' -> 'ollama.service'. Refuses names that could escape a directory."""
    if not isinstance(unit, str) or not unit or "/" in unit or unit.startswith("."):
        raise UnitEnvError("unit name %r is not a plain systemd unit name" % (unit,))
    return unit if "." in unit else unit + ".service"


def validate_environment(environment):
    """Keys must be valid variable names and values plain strings without newlines."""
    if not isinstance(environment, dict) or not environment:
        raise UnitEnvError("environment must be a non-empty mapping of NAME: value")
    for key, value in environment.items():
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise UnitEnvError("environment key %r is not a valid variable name" % (key,))
        if not isinstance(value, str):
            raise UnitEnvError("environment value of %s must be a string, got %r" % (key, value))
        if "\n" in value or "\r" in value or "\0" in value:
            raise UnitEnvError("environment value of %s must not contain a newline or NUL" % key)


def quote_assignment(key, value):
    """One Environment= word, quoted for systemd: '%' is a specifier, so double it."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return '"%s=%s"' % (key, escaped)


def render_dropin(environment, owner):
    lines = [
        "# Managed by %s (%s). Local changes are overwritten on the next run." % (MARKER, owner),
        "[Service]",
    ]
    lines += ["Environment=%s" % quote_assignment(key, environment[key]) for key in sorted(environment)]
    return "\n".join(lines) + "\n"


def _logical_lines(text):
    """Yield (first_line_index, last_line_index, joined_text), joining '\\' continuations."""
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        start = index
        joined = lines[index]
        while joined.endswith("\\") and index + 1 < len(lines):
            index += 1
            joined = joined[:-1] + " " + lines[index]
        yield start, index, joined
        index += 1


def split_words(value):
    """Split an Environment= value into its assignments (systemd quoting rules)."""
    try:
        return shlex.split(value.replace("%%", "%"), comments=False, posix=True)
    except ValueError:
        return [value]


def assignments(value):
    """The NAME=value words of an Environment= value, in order, as (name, value) pairs."""
    pairs = []
    for word in split_words(value):
        key, sep, val = word.partition("=")
        if sep:
            pairs.append((key, val))
    return pairs


def parse_environment(value):
    """An Environment= value, or `systemctl show -p Environment`, as a dict (later wins)."""
    return dict(assignments(value))


def service_lines(text):
    """Yield (first_line_index, last_line_index, directive, value) of each [Service] assignment."""
    section = None
    for start, end, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped[1:-1]
            continue
        if section != "Service" or "=" not in stripped:
            continue
        directive, dummy, value = stripped.partition("=")
        yield start, end, directive.strip(), value.strip()


def read_text(path):
    """A unit file, drop-in or environment file, or None when it cannot be read."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def systemctl_show(module, unit_name, properties):
    """`systemctl show` of LoadState and the given properties as a dict.

    Fails the module when systemctl fails or the unit is not installed.
    """
    systemctl = module.get_bin_path("systemctl", required=True)
    argv = [systemctl, "show", unit_name, "--no-pager", "-p", "LoadState"]
    for prop in properties:
        argv += ["-p", prop]
    rc, out, err = module.run_command(argv)
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed: %s" % (unit_name, err.strip() or out.strip()))
    props = {}
    for line in out.splitlines():
        key, dummy, value = line.partition("=")
        props[key] = value.strip()
    if props.get("LoadState") != "loaded":
        module.fail_json(msg="systemd unit %s is not installed (LoadState=%s); looked for it in %s"
                         % (unit_name, props.get("LoadState") or "unknown", ", ".join(UNIT_DIRS)),
                         load_state=props.get("LoadState"))
    return props


def dropin_path(unit_name, dropin):
    """Where a managed drop-in of the unit goes; ``dropin`` must be a plain file name ending in .conf."""
    if not isinstance(dropin, str) or "/" in dropin or not dropin.endswith(".conf"):
        raise UnitEnvError("dropin must be a plain file name ending in .conf, got %r" % (dropin,))
    return os.path.join(ETC_UNIT_DIR, unit_name + ".d", dropin)


def applied_dropins(unit_name, drop_in_paths, own_path):
    """Every drop-in of the unit, ``own_path`` included, in the order systemd applies them.

    ``drop_in_paths`` is `systemctl show -p DropInPaths`; the directories are read too, so that a
    drop-in written since the last daemon-reload counts.
    """
    dropins = set(dropin_candidates(unit_name))
    dropins.update(p for p in drop_in_paths.split() if p.endswith(".conf"))
    dropins.add(own_path)
    return sorted(dropins, key=lambda p: (os.path.basename(p), p))


def scan_unit_text(path, text):
    """Find Environment= and EnvironmentFile= lines in a unit or drop-in.

    Returns a list of dicts: path, line (1-based), directive, value, and for
    Environment= the parsed ``assignments`` [(key, value), ...].
    """
    found = []
    for start, end, directive, value in service_lines(text):
        if directive == "Environment":
            found.append({"path": path, "line": start + 1, "end_line": end + 1,
                          "directive": directive, "value": value, "assignments": assignments(value)})
        elif directive == "EnvironmentFile":
            found.append({"path": path, "line": start + 1, "end_line": end + 1,
                          "directive": directive, "value": value, "assignments": []})
    return found


def env_file_path(value):
    """EnvironmentFile=-/etc/default/x -> ('/etc/default/x', optional=True)."""
    value = value.strip()
    optional = value.startswith("-")
    return value.lstrip("-").strip(), optional


def scan_env_file_text(path, text):
    """KEY=VALUE assignments in an EnvironmentFile (systemd.exec(5) syntax)."""
    found = []
    for start, end, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        if not sep or not _KEY_RE.match(key):
            continue
        words = split_words(value.strip())
        value = words[0] if len(words) == 1 else value.strip()
        found.append({"path": path, "line": start + 1, "end_line": end + 1,
                      "directive": "EnvironmentFile", "value": stripped,
                      "assignments": [(key, value)]})
    return found


def dropin_candidates(unit_name, unit_dirs=None):
    """All *.conf drop-ins of a unit, masked by priority, in application order."""
    chosen = {}
    for directory in UNIT_DIRS if unit_dirs is None else unit_dirs:
        dropin_dir = os.path.join(directory, unit_name + ".d")
        try:
            names = os.listdir(dropin_dir)
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf") and name not in chosen:
                chosen[name] = os.path.join(dropin_dir, name)
    return [chosen[name] for name in sorted(chosen)]


def find_assignments(sources, keys):
    """Flatten scanned sources to the assignments of the watched keys, in order."""
    hits = []
    for entry in sources:
        for key, value in entry["assignments"]:
            if key in keys:
                hits.append({"path": entry["path"], "line": entry["line"], "key": key,
                             "value": value, "directive": entry["directive"]})
    return hits


def effective_values(unit_sources, file_sources, keys):
    """Which value wins for each key: Environment= in order, then EnvironmentFile=."""
    result = {}
    for entry in unit_sources:
        if entry["directive"] == "Environment" and not entry["assignments"] and not entry["value"]:
            result = {}  # a bare "Environment=" resets the list
        for key, value in entry["assignments"]:
            if key in keys:
                result[key] = value
    for entry in file_sources:
        for key, value in entry["assignments"]:
            if key in keys:
                result[key] = value
    return result


def conflicts_for(hits, wanted, own_path):
    """Assignments outside our drop-in that set a watched key to another value."""
    return [hit for hit in hits
            if hit["path"] != own_path and wanted.get(hit["key"]) != hit["value"]]


def remove_assignments(text, conflicts, kind):
    """Return ``text`` without the conflicting assignments.

    An Environment= line keeps its other assignments; a line left with none,
    and a conflicting EnvironmentFile line, is commented out with a marker so
    that a human sees what was disabled and why.
    """
    by_line = {}
    for hit in conflicts:
        by_line.setdefault(hit["line"], set()).add(hit["key"])
    lines = text.split("\n")
    logical = list(_logical_lines(text))
    for start, end, joined in reversed(logical):
        keys = by_line.get(start + 1)
        if not keys:
            continue
        original = lines[start:end + 1]
        note = ["# %s: disabled %s (conflicts with the managed drop-in):" % (MARKER, ", ".join(sorted(keys)))]
        disabled = ["# " + item for item in original]
        replacement = note + disabled
        if kind == "unit":
            directive, dummy, value = joined.strip().partition("=")
            kept = [word for word in split_words(value) if word.partition("=")[0] not in keys]
            if kept:
                replacement += ["%s=%s" % (directive.strip(),
                                           " ".join(quote_assignment(*w.split("=", 1)) if "=" in w else w
                                                    for w in kept))]
        lines[start:end + 1] = replacement
    return "\n".join(lines)
