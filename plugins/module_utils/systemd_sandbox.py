# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A systemd sandbox for a local AI server that runs natively (Ollama's ollama.service).

The directives follow what is known to work with Ollama and CUDA/ROCm (the
NixOS ollama module; research notes in seccomp-and-ollama.md): no
capabilities, no new privileges, a read-only system with only the server's
state writable (and not executable), private /tmp, hidden kernel knobs,
namespaces refused, a system-call allow-list, W^X memory. GPUs stay visible
through DeviceAllow= when their device nodes exist.

List-valued directives are first reset (an empty assignment), so that the
managed drop-in decides them whatever the unit file says. Drop-ins that sort
after ours can still weaken a setting: those are reported as conflicts.

Pure Python, no Ansible imports, unit-tested on its own.
"""

from __future__ import annotations

import os
import re

from ansible_collections.llmsec.hardening.plugins.module_utils import ollama_env, systemd_env

MARKER = systemd_env.MARKER

# Device nodes that mean "this host has a GPU the server should use", and the
# DeviceAllow= entries each needs (char-* are device groups from /proc/devices).
GPU_DEVICES = (
    ("/dev/nvidiactl", ("char-nvidiactl rw", "char-nvidia-caps rw", "char-nvidia-frontend rw",
                        "char-nvidia-uvm rw")),
    ("/dev/kfd", ("char-kfd rw",)),
    ("/dev/dri", ("char-drm rw",)),
    ("/dev/dxg", ("/dev/dxg rw",)),
)

# Where systemd's ProtectHome= hides things.
HOME_ROOTS = ("/home", "/root", "/run/user")

# Directives that take lists and accumulate over the unit and its drop-ins.
LIST_DIRECTIVES = frozenset((
    "CapabilityBoundingSet", "AmbientCapabilities", "ReadWritePaths", "ReadOnlyPaths", "NoExecPaths", "DeviceAllow",
    "RestrictAddressFamilies", "SystemCallFilter",
))

_DIRECTIVE_RE = re.compile(r"^[A-Z][A-Za-z]+$")
_DEVICE_RE = re.compile(r"^(char-[a-z0-9_-]+|block-[a-z0-9_-]+|/dev/[A-Za-z0-9_./-]+)( [rwm]{1,3})?$")
_CAP_RE = re.compile(r"^CAP_[A-Z_]+$")
_FAMILY_RE = re.compile(r"^AF_[A-Z0-9]+$")
_EXPOSURE_RE = re.compile(r"Overall exposure level for \S+: ([0-9]+(?:\.[0-9]+)?)")
_ROOT_NAMES = ("", "root", "0")


class SandboxError(Exception):
    """Input that cannot be handled; the message names what was wrong."""


def check_paths(paths, name):
    """Absolute, normalised paths without systemd's special characters."""
    if not isinstance(paths, (list, tuple)):
        raise SandboxError("%s must be a list of absolute paths, got %r" % (name, paths))
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or os.path.normpath(path) != path:
            raise SandboxError("%s: %r is not an absolute, normalised path" % (name, path))
        if path == "/" or any(ch in path for ch in " \t\n\"'\\%"):
            raise SandboxError("%s: %r cannot be used (the root directory, or a space, quote, backslash "
                               "or %% in the path)" % (name, path))


def check_devices(devices):
    if not isinstance(devices, (list, tuple)):
        raise SandboxError("devices must be 'auto', 'none' or a list of DeviceAllow= entries, got %r"
                           % (devices,))
    for entry in devices:
        if not isinstance(entry, str) or not _DEVICE_RE.match(entry):
            raise SandboxError("devices: %r is not a DeviceAllow= entry such as 'char-nvidiactl rw' or "
                               "'/dev/dxg rw'" % (entry,))


def detect_devices(exists=os.path.exists):
    """DeviceAllow= entries for the GPU device nodes present on this host."""
    allowed = []
    for node, entries in GPU_DEVICES:
        if exists(node):
            allowed.extend(entries)
    return allowed


def is_root_user(user, dynamic_user=False):
    return not dynamic_user and str(user).strip() in _ROOT_NAMES


def default_writable_paths(home, environment):
    """The service's state: its user's home and OLLAMA_MODELS, where Ollama writes."""
    paths = []
    for path in (home, environment.get("OLLAMA_MODELS", "")):
        if path and path.startswith("/") and path != "/":
            path = os.path.normpath(path)
            if path not in paths and not any(path.startswith(p + "/") for p in paths):
                paths.append(path)
    return paths


def default_models_path(home, environment):
    """Where Ollama keeps its models (ollama_env.models_dir) as an absolute path for ReadOnlyPaths=: a relative
    OLLAMA_MODELS, or none, gives ~/.ollama/models of the service user; a home of / gives nothing."""
    configured = ollama_env.env_value(environment, "OLLAMA_MODELS")
    if configured.startswith("/") and configured != "/":
        return os.path.normpath(configured)
    if home and home != "/":
        return ollama_env.models_dir({}, os.path.normpath(home))
    return None


def check_overrides(overrides):
    if not isinstance(overrides, dict):
        raise SandboxError("overrides must be a mapping of directive: value, got %r" % (overrides,))
    for key, value in overrides.items():
        if not isinstance(key, str) or not _DIRECTIVE_RE.match(key):
            raise SandboxError("overrides: %r is not a systemd directive name" % (key,))
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool):
                continue
            if not isinstance(item, (str, int)) or any(ch in str(item) for ch in "\n\r\0"):
                raise SandboxError("overrides: the value of %s must be a string, a number, a boolean or a "
                                   "list of them, without newlines" % key)


def _word(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def check_capabilities(capabilities):
    if not isinstance(capabilities, (list, tuple)):
        raise SandboxError("capabilities must be a list of capability names, got %r" % (capabilities,))
    for cap in capabilities:
        if not isinstance(cap, str) or not _CAP_RE.match(cap):
            raise SandboxError("capabilities: %r is not a capability name such as CAP_NET_BIND_SERVICE" % (cap,))


def check_address_families(address_families):
    if not address_families:
        raise SandboxError("address_families must not be empty: the server needs AF_INET or AF_UNIX to answer")
    for family in address_families:
        if not isinstance(family, str) or not _FAMILY_RE.match(family):
            raise SandboxError("address_families: %r is not an address family such as AF_INET" % (family,))


def settings_errors(settings, prefix="service_sandbox_"):
    """The service_sandbox role's checks on the controller: the functions the module runs again on the host,
    one message per broken rule, each naming its variable (prefix + the setting's name)."""
    errors = []

    def run(check, *args):
        try:
            check(*args)
        except SandboxError as exc:
            errors.append(prefix + str(exc))

    paths = settings.get("writable_paths", "auto")
    if paths != "auto":
        run(check_paths, paths, "writable_paths")
    devices = settings.get("devices", "auto")
    if devices not in ("auto", "none"):
        run(check_devices, devices)
    run(check_overrides, settings.get("overrides") or {})
    run(check_capabilities, settings.get("capabilities") or [])
    run(check_address_families, settings.get("address_families"))
    exposure = settings.get("max_exposure")
    if isinstance(exposure, bool) or not re.match(r"^[0-9]+(\.[0-9]+)?$", str(exposure)) or float(exposure) > 10:
        errors.append("%smax_exposure must be a number from 0.0 to 10.0, got %r" % (prefix, exposure))
    timeout = settings.get("start_timeout")
    if isinstance(timeout, bool) or not re.match(r"^[0-9]+$", str(timeout)) or int(timeout) < 1:
        errors.append("%sstart_timeout must be at least 1 second, got %r" % (prefix, timeout))
    return errors


def directives(writable_paths, devices, capabilities=(), address_families=None, overrides=None,
               home_protected=False, read_only_paths=()):
    """The sandbox as an ordered list of (directive, value) pairs. read_only_paths: paths below the writable
    ones that the server may only read (its models, outside maintenance)."""
    if address_families is None:
        address_families = ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]
    check_capabilities(capabilities)
    check_address_families(address_families)
    pairs = [
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
    ]
    if capabilities:
        pairs += [("CapabilityBoundingSet", " ".join(capabilities)),
                  ("AmbientCapabilities", " ".join(capabilities))]
    pairs += [
        ("ProtectSystem", "strict"),
        # A state directory under /home or /root stays reachable (read-only, its own path writable).
        ("ProtectHome", "read-only" if home_protected else "yes"),
        ("ReadWritePaths", ""),
        ("NoExecPaths", ""),
    ]
    if writable_paths:
        # '-': a path that does not exist yet does not stop the service from starting.
        pairs += [("ReadWritePaths", " ".join("-" + p for p in writable_paths)),
                  ("NoExecPaths", " ".join("-" + p for p in writable_paths))]
    # The deeper path wins over the ReadWritePaths= above it: a read-only bind mount in the unit's namespace.
    pairs += [("ReadOnlyPaths", "")]
    if read_only_paths:
        pairs += [("ReadOnlyPaths", " ".join("-" + p for p in read_only_paths))]
    pairs += [("PrivateTmp", "yes")]
    if devices:
        pairs += [("PrivateDevices", "no"), ("DevicePolicy", "closed"), ("DeviceAllow", "")]
        pairs += [("DeviceAllow", entry) for entry in devices]
    else:
        pairs += [("PrivateDevices", "yes")]
    pairs += [
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("ProtectClock", "yes"),
        ("ProtectHostname", "yes"),
        ("ProtectProc", "invisible"),
        # Ollama reads /proc/meminfo and /proc/cpuinfo to size models.
        ("ProcSubset", "all"),
        ("RestrictNamespaces", "yes"),
        ("RestrictRealtime", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RemoveIPC", "yes"),
        ("RestrictAddressFamilies", ""),
        ("RestrictAddressFamilies", " ".join(address_families)),
        ("SystemCallArchitectures", "native"),
        ("SystemCallFilter", ""),
        # @resources: llama.cpp sets thread affinity and memory policy.
        ("SystemCallFilter", "@system-service @resources"),
        ("SystemCallFilter", "~@privileged"),
        ("SystemCallErrorNumber", "EPERM"),
        ("UMask", "0077"),
    ]
    for key, value in (overrides or {}).items():
        pairs = [pair for pair in pairs if pair[0] != key]
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if key in LIST_DIRECTIVES:
            pairs.append((key, ""))
        pairs += [(key, _word(item)) for item in values]
    return pairs


def render_dropin(pairs, owner):
    lines = [
        "# Managed by %s (%s). Local changes are overwritten on the next run." % (MARKER, owner),
        "[Service]",
    ]
    lines += ["%s=%s" % pair for pair in pairs]
    return "\n".join(lines) + "\n"


def home_is_protected(paths):
    return any(p == root or p.startswith(root + "/") for p in paths for root in HOME_ROOTS)


def scan_directives(path, text, names):
    """[Service] assignments of the given directive names in a unit file or drop-in."""
    return [{"path": path, "line": start + 1, "key": key, "value": value}
            for start, dummy, key, value in systemd_env.service_lines(text) if key in names]


def later_conflicts(dropin_texts, own_path, names):
    """Assignments of our directives in drop-ins applied after ours (they would win).

    ``dropin_texts`` is a list of (path, text) in application order.
    """
    conflicts = []
    seen_own = False
    for path, text in dropin_texts:
        if path == own_path:
            seen_own = True
            continue
        if seen_own and text is not None:
            conflicts += scan_directives(path, text, names)
    return conflicts


def parse_exposure(text):
    """The overall exposure level (0.0 best, 10.0 worst) from `systemd-analyze security UNIT`."""
    match = _EXPOSURE_RE.search(text or "")
    if not match:
        raise SandboxError("no 'Overall exposure level' in systemd-analyze security output")
    return float(match.group(1))


def parse_proc_status(text):
    """What the kernel says of a process: NoNewPrivs, Seccomp, CapEff, CapBnd, Uid."""
    fields = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return {
        "no_new_privs": fields.get("NoNewPrivs") == "1",
        "seccomp": int(fields.get("Seccomp", "0") or 0),
        "cap_eff": int(fields.get("CapEff", "0") or "0", 16),
        "cap_bnd": int(fields.get("CapBnd", "0") or "0", 16),
        "uid": int((fields.get("Uid", "0") or "0").split()[0]),
    }
