# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""Which local AI servers run on a host, what they listen on and open, and what is wrong with that.

Reads /proc only (a root path is passed in, so tests use a fake tree); changes
nothing. Used by the local_ai_facts module, the monitoring role's timer and
playbooks/audit.yml.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import stat

try:
    from ansible_collections.llmsec.hardening.plugins.module_utils import change_window, ollama_advisories, ollama_env
except ImportError:  # installed beside the monitoring timer's entry point
    import change_window
    import ollama_advisories
    import ollama_env

# (kind, test on the lowercased basenames of the executable and the first two
# arguments, and on the whole command line). Order matters: the first match wins.
KINDS = (
    ("ollama", lambda names, line: "ollama" in names),
    ("llama.cpp", lambda names, line: bool(names & {"llama-server", "llama-cli", "llama-cpp-server", "llama-run"})
     or "llama_cpp.server" in line),
    ("lmstudio", lambda names, line: bool(names & {"lm studio", "lm-studio", "lms", "lmstudio"})
     or "/lm studio" in line or "lm-studio" in line),
    ("vllm", lambda names, line: "vllm" in names or "vllm.entrypoints" in line or " vllm serve" in " " + line),
    ("localai", lambda names, line: bool(names & {"local-ai", "localai"})),
    ("tgi", lambda names, line: bool(names & {"text-generation-launcher", "text-generation-router",
                                              "text-generation-server"})),
    ("koboldcpp", lambda names, line: any(name.startswith("koboldcpp") for name in names)),
)
# Ports the servers use by default: a Docker-published one of these is an AI port.
AI_PORTS = {11434: "ollama", 8080: "llama.cpp", 1234: "lmstudio", 8000: "vllm", 5001: "koboldcpp",
            3000: "tgi"}
MODEL_FILE = re.compile(r"(\.gguf|\.ggml|\.safetensors|\.bin|/blobs/sha256[-:][0-9a-f]{64})$")
INTERPRETERS = re.compile(r"^(python[0-9.]*|node|bun|deno)$")
SEVERITY_ORDER = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
# Every finding kind and its severity: the metrics and the alerts are made from this one table.
KINDS_SEVERITY = {
    "nonloopback_listener": "high", "docker_published_ai_port": "high", "unapproved_model_loaded": "high",
    "wildcard_origins": "high", "vulnerable_version": "high", "running_as_root": "medium",
    "writable_model": "medium", "debug_logging": "medium", "unsandboxed_service": "medium",
    "local_access_open": "medium", "change_window_left_open": "medium", "change_window_open": "info",
    "scan_incomplete": "info",
}
TCP_LISTEN = "0A"
# Go's buildinfo keeps the link flags, and Ollama's release builds set the version with one:
# -X=github.com/ollama/ollama/version.Version=0.12.3 (.github/workflows/release.yaml).
BUILD_VERSION = re.compile(rb"ollama/ollama/version\.Version=v?([0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?)")
CAP_DAC_OVERRIDE, CAP_FOWNER = 1, 3
NOBODY = 65534


def _read(path, mode="r"):
    try:
        with open(path, mode) as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def read_executable(path, want_hash=True, want_version=True):
    """(sha256, build version) of an executable or script, in one read; None for what is not there or not
    wanted (neither wanted: nothing is read)."""
    if not want_hash and not want_version:
        return None, None
    digest = hashlib.sha256()
    version, tail = None, b""
    try:
        with open(path, "rb") as handle:
            while True:
                block = handle.read(1 << 20)
                if not block:
                    break
                if want_hash:
                    digest.update(block)
                if want_version and version is None:
                    match = BUILD_VERSION.search(tail + block)
                    if match:
                        version = match.group(1).decode("ascii")
                        if not want_hash:
                            break
                    tail = block[-128:]
    except OSError:
        return None, None
    return (digest.hexdigest() if want_hash else None), version


def classify(cmdline, exe):
    """The kind of AI server a process is, or None."""
    names = set()
    for part in [exe or ""] + cmdline[:2]:
        base = os.path.basename(part).lower()
        if base:
            names.add(base)
    line = " ".join(cmdline).lower()
    for kind, test in KINDS:
        if test(names, line):
            return kind
    return None


def parse_net(text, family):
    """Listening TCP sockets of /proc/<pid>/net/tcp(6): {inode: "address:port"}."""
    result = {}
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != TCP_LISTEN:
            continue
        address, port = fields[1].split(":")
        raw = bytes.fromhex(address)
        if family == 4:
            ip = ipaddress.IPv4Address(raw[::-1])
        else:
            # four little-endian 32-bit words
            ip = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            if ip.ipv4_mapped:
                ip = ip.ipv4_mapped
        result[fields[9]] = {"address": str(ip), "port": int(port, 16)}
    return result


def host_port(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def is_loopback(address):
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _owner(root, uid):
    passwd = _read(os.path.join(root, "etc", "passwd")) if root != "/" else _read("/etc/passwd")
    for line in (passwd or "").splitlines():
        parts = line.split(":")
        if len(parts) > 2 and parts[2] == str(uid):
            return parts[0]
    return str(uid)


def _status_field(status, name):
    for line in (status or "").splitlines():
        if line.startswith(name + ":"):
            return line.split()[1:]
    return []


def _capabilities(status):
    value = _status_field(status, "CapEff")
    try:
        return int(value[0], 16) if value else None
    except ValueError:
        return None


def debug_settings(environment):
    """The debug switches set in an Ollama environment that put prompts on disk, read as Ollama reads them.

    OLLAMA_DEBUG (envconfig.LogLevel): a true bool or a positive integer is DEBUG (1) or TRACE (2) and more;
    OLLAMA_DEBUG_LOG_REQUESTS (envconfig.Bool): any non-empty value but a false bool."""
    found = []
    debug = ollama_env.env_value(environment, "OLLAMA_DEBUG")
    if ollama_env.parse_bool(debug) or re.match(r"^[+]?0*[1-9][0-9]*$", debug):
        found.append("OLLAMA_DEBUG=%s" % debug)
    requests = ollama_env.env_value(environment, "OLLAMA_DEBUG_LOG_REQUESTS")
    if requests and ollama_env.parse_bool(requests) is not False:
        found.append("OLLAMA_DEBUG_LOG_REQUESTS=%s" % requests)
    return found


def _unit_and_container(cgroup):
    unit = container = None
    for line in (cgroup or "").splitlines():
        path = line.split(":", 2)[-1]
        # the innermost container: Docker in a container shows the outer scope first
        matches = re.findall(r"docker[-/]([0-9a-f]{12,64})", path)
        if matches:
            container = matches[-1][:12]
        # systemd inside a container: /system.slice/docker-<id>.scope/system.slice/ollama.service
        match = re.search(r"/([^/]+\.service)$", path)
        if match:
            unit = match.group(1)
    return unit, container


def _environ(raw, keys=None):
    """OLLAMA_* variables of a process environment (or the named keys)."""
    env = {}
    for item in (raw or b"").split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and (key.decode("utf-8", "replace") in keys if keys else key.startswith(b"OLLAMA_")):
            env[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    return env


def _writable_by(path_stat, uid, gids, caps):
    """Whether a process may write (or chmod itself the right to write) a file, mounts aside.

    caps: its effective capability set, None when unknown (then root is assumed to hold them all)."""
    if caps is None:
        caps = ~0 if uid == 0 else 0
    if caps & (1 << CAP_DAC_OVERRIDE) or (caps & (1 << CAP_FOWNER)):
        return True
    mode = path_stat.st_mode
    return bool(mode & stat.S_IWOTH or (path_stat.st_uid == uid and mode & stat.S_IWUSR)
                or (path_stat.st_gid in gids and mode & stat.S_IWGRP))


def _unescape(field):
    """mountinfo escapes space, tab, newline and backslash as octal (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def mountinfo(text):
    """[(mount point, read-only)] from /proc/<pid>/mountinfo, in mount order."""
    mounts = []
    for line in (text or "").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 6:
            continue
        super_options = tail[2].split(",") if len(tail) > 2 else []
        mounts.append((_unescape(fields[4]), "ro" in fields[5].split(",") or "ro" in super_options))
    return mounts


def mounted_read_only(mounts, path):
    """Whether path lies on a read-only mount: the deepest mount point above it, the last one mounted there."""
    best, read_only = -1, False
    for point, flag in mounts:
        if path == point or path.startswith(point.rstrip("/") + "/"):
            if len(point) >= best:
                best, read_only = len(point), flag
    return read_only


def _model_paths(proc, pid):
    paths = set()
    for line in (_read(os.path.join(proc, pid, "maps")) or "").splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and MODEL_FILE.search(parts[5].strip()):
            paths.add(parts[5].strip())
    fd_dir = os.path.join(proc, pid, "fd")
    readable = True
    try:
        fds = os.listdir(fd_dir)
    except PermissionError:
        fds, readable = [], False
    except OSError:
        fds = []
    sockets = set()
    for fd in fds:
        target = _readlink(os.path.join(fd_dir, fd)) or ""
        if target.startswith("socket:["):
            sockets.add(target[8:-1])
        elif MODEL_FILE.search(target):
            paths.add(target)
    return sorted(paths), sockets, readable


def lock_digests(text):
    """Every sha256 digest an approved-model lock names (its format aside)."""
    return set(re.findall(r"sha256[:-]([0-9a-f]{64})", text or ""))


def scan(root="/", hash_executables=True, approved_digests=None):
    """Discover the AI servers under root (/proc under it). Returns (servers, findings).

    approved_digests: blob digests of the approved-model lock; an Ollama blob
    open in a server and not among them is a finding."""
    proc = os.path.join(root, "proc")
    try:
        pids = sorted((entry for entry in os.listdir(proc) if entry.isdigit()), key=int)
    except OSError:
        pids = []
    servers, proxies = [], []
    # The host's network namespace is init's; a server in another one (a container's)
    # listens there, reachable from the network only through what Docker publishes.
    host_netns = _readlink(os.path.join(proc, "1", "ns", "net"))
    # A host that is itself a container (systemd in Docker, as in the tests): its own services are native to it.
    host_container = _unit_and_container(_read(os.path.join(proc, "1", "cgroup")))[1]
    for pid in pids:
        base = os.path.join(proc, pid)
        raw = _read(os.path.join(base, "cmdline"), "rb")
        if not raw:
            continue
        cmdline = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
        exe = _readlink(os.path.join(base, "exe")) or (cmdline[0] if cmdline else "")
        if os.path.basename(cmdline[0]) == "docker-proxy":
            proxies.append(cmdline)
            continue
        kind = classify(cmdline, exe)
        if not kind:
            continue
        status = _read(os.path.join(base, "status"))
        uid = int((_status_field(status, "Uid") or ["0"])[0])
        gids = {int(gid) for gid in _status_field(status, "Groups")} | {
            int((_status_field(status, "Gid") or ["0"])[0])}
        models, sockets, readable = _model_paths(proc, pid)
        listeners = []
        for family, name in ((4, "tcp"), (6, "tcp6")):
            table = parse_net(_read(os.path.join(base, "net", name)), family)
            for inode in sorted(sockets & set(table)):
                listeners.append(table[inode])
        listeners = sorted({(item["address"], item["port"]) for item in listeners})
        unit, container = _unit_and_container(_read(os.path.join(base, "cgroup")))
        raw_environ = _read(os.path.join(base, "environ"), "rb")
        if container is not None and container == host_container:
            container = None
        netns = _readlink(os.path.join(base, "ns", "net"))
        server = {
            "kind": kind, "pid": int(pid), "user": _owner(root, uid), "uid": uid, "exe": exe,
            "cmdline": cmdline, "role": "runner" if "runner" in cmdline[1:3] else "server",
            "listeners": [{"address": address, "port": port} for address, port in listeners],
            "models": models, "unit": unit, "container": container,
            "environment": _environ(raw_environ),
            "complete": readable,
            "own_netns": bool(host_netns and netns and netns != host_netns),
        }
        # The release matters for Ollama only (its advisories); a llama-server it started takes its parent's.
        ollama = kind == "ollama"
        server["exe_sha256"], server["version"] = read_executable(os.path.join(base, "exe"), hash_executables, ollama)
        if INTERPRETERS.match(os.path.basename(exe)) and len(cmdline) > 1 and cmdline[1].startswith("/"):
            # A script server (and the stand-in of the tests): its version is in the script.
            script_hash, script_version = read_executable(_in_process(root, base, cmdline[1]), hash_executables,
                                                          ollama)
            server["version"] = server["version"] or script_version
            if hash_executables:
                server["script"], server["script_sha256"] = cmdline[1], script_hash
        if not hash_executables:
            del server["exe_sha256"]
        # The kernel's view, for the findings only: groups, capabilities, sandbox, mounts, the process's root.
        server["_gids"] = gids
        server["_caps"] = _capabilities(status)
        server["_ppid"] = int((_status_field(status, "PPid") or ["0"])[0])
        server["_sandbox"] = {name: (_status_field(status, name) or [None])[0] for name in ("NoNewPrivs", "Seccomp")}
        mounts = _read(os.path.join(base, "mountinfo"))
        server["_mounts"] = mountinfo(mounts) if mounts else None
        server["_base"] = base
        if ollama and server["role"] == "server":
            home = _environ(raw_environ, keys=("HOME",)).get("HOME", "")
            server["model_store"] = ollama_env.models_dir(server["environment"], home)
        servers.append(server)
    by_pid = {server["pid"]: server for server in servers}
    for server in servers:
        # Ollama 0.30 and later serve GGUF models through llama.cpp's llama-server, started by `ollama serve`.
        parent = by_pid.get(server["_ppid"])
        if server["kind"] == "llama.cpp" and parent and parent["kind"] == "ollama":
            server["kind"], server["role"] = "ollama", "runner"
            server["version"] = server["version"] or parent["version"]
    findings = []
    for server in servers:
        findings.extend(server_findings(server, root, approved_digests))
        for name in [key for key in server if key.startswith("_")]:
            del server[name]
    findings.extend(proxy_findings(proxies))
    findings.extend(local_access_findings(servers, proxies))
    findings.extend(change_window_findings(root))
    findings.sort(key=lambda item: (-SEVERITY_ORDER[item["severity"]], item["kind"], item.get("pid") or 0))
    return servers, findings


def _in_process(root, base, path):
    """A path as the process sees it: through /proc/<pid>/root (its mount namespace, a container's files)
    when that is readable, else under root (a fake tree in the tests)."""
    view = os.path.join(base, "root")
    if os.path.isdir(view):
        return os.path.join(view, path.lstrip("/"))
    return os.path.join(root, path.lstrip("/"))


def _statvfs_read_only(full):
    """ST_RDONLY of the filesystem holding a path, for a process whose mountinfo cannot be read."""
    try:
        return bool(os.statvfs(full).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def server_findings(server, root="/", approved_digests=None):
    found = []

    def add(kind, message, fix, **extra):
        item = {"kind": kind, "severity": KINDS_SEVERITY[kind], "pid": server["pid"], "server": server["kind"],
                "message": message, "fix": fix}
        item.update(extra)
        found.append(item)

    native = server.get("container") is None
    if not server.get("complete", True):
        add("scan_incomplete",
            "cannot read /proc/%d/fd: listeners, models and environment of %s are unknown" % (
                server["pid"], server["kind"]),
            "run the scan as root with CAP_SYS_PTRACE (a container's root lacks it)")
    for listener in server["listeners"]:
        # In its own namespace (a container with a bridge network), 0.0.0.0 is the namespace's;
        # publishing it is proxy_findings' concern.
        if not is_loopback(listener["address"]) and not server.get("own_netns"):
            add("nonloopback_listener",
                "%s (pid %d) listens on %s, off loopback" % (
                    server["kind"], server["pid"], host_port(listener["address"], listener["port"])),
                "bind it to 127.0.0.1 (llmsec.hardening.ollama_bind for Ollama) and put nginx_tls_proxy in front",
                address=host_port(listener["address"], listener["port"]))
    if server["uid"] == 0 and server["role"] == "server":
        add("running_as_root", "%s (pid %d) runs as root" % (server["kind"], server["pid"]),
            "run it as a dedicated user (Ollama's installer creates 'ollama'), or in container_hardening")
    # The store itself, loaded or not: a server that can rewrite it can swap the weights it serves next.
    store = server.get("model_store")
    candidates = list(server["models"]) + ([store] if store and not server["models"] else [])
    for path in candidates:
        writable = _writable_model(server, root, path, is_dir=path == store)
        if writable:
            add("writable_model",
                "%s (pid %d) %s %s, %s%s" % (
                    server["kind"], server["pid"], "keeps its models in" if path == store else "has loaded", path,
                    "which it can write" if writable == path else "and it can write %s" % writable,
                    " (it holds CAP_DAC_OVERRIDE)" if (server.get("_caps") or 0) & (1 << CAP_DAC_OVERRIDE) else ""),
                "keep weights read-only to the server: encrypted_model_volume mounts them ro, service_sandbox "
                "makes the store a ReadOnlyPaths= of the unit; check them with model_integrity", path=path)
    if approved_digests is not None:
        for path in server["models"]:
            match = re.search(r"/blobs/sha256[-:]([0-9a-f]{64})$", path)
            if match and match.group(1) not in approved_digests:
                add("unapproved_model_loaded",
                    "%s (pid %d) has %s open, a blob that the approved-model lock does not list" % (
                        server["kind"], server["pid"], path),
                    "remove the model or approve it (model_integrity lock mode, reviewed)", path=path)
    origins = server["environment"].get("OLLAMA_ORIGINS", "")
    if "*" in [item.strip() for item in origins.split(",")] or origins.strip() == "*":
        add("wildcard_origins", "OLLAMA_ORIGINS contains * (any web page may call the API)",
            "pin the origins (ollama_bind_origins)")
    if server["role"] == "server":
        debug = debug_settings(server["environment"])
        if debug:
            add("debug_logging",
                "%s (pid %d) runs with %s: prompts or whole request bodies are written to its log or a "
                "temporary directory" % (server["kind"], server["pid"], ", ".join(debug)),
                "remove them (llmsec.hardening.ollama_bind does unless ollama_bind_allow_debug)", settings=debug)
        if server["kind"] == "ollama":
            for advisory in ollama_advisories.affecting(server.get("version")):
                add("vulnerable_version",
                    "%s %s (pid %d) is affected by %s, fixed in %s: %s" % (
                        server["kind"], server["version"], server["pid"], advisory["id"], advisory["fixed"],
                        advisory["summary"]),
                    "upgrade Ollama to %s or later (%s)" % (advisory["fixed"], advisory["source"]),
                    version=server["version"], advisory=advisory["id"], fixed=advisory["fixed"])
        sandbox = server.get("_sandbox") or {}
        if native and sandbox.get("NoNewPrivs") is not None and sandbox.get("Seccomp") is not None:
            missing = []
            if sandbox["NoNewPrivs"] != "1":
                missing.append("NoNewPrivileges")
            if sandbox["Seccomp"] != "2":
                missing.append("a syscall filter")
            if server.get("_caps") not in (None, 0):
                missing.append("an empty capability set")
            if missing:
                add("unsandboxed_service",
                    "%s (pid %d) runs without %s" % (server["kind"], server["pid"], " and ".join(
                        [", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)),
                    "sandbox the unit with llmsec.hardening.service_sandbox", missing=missing)
    return found


def _writable_model(server, root, path, is_dir=False):
    """The model file or its directory (or the store and its blobs directory), if the server can write it (mode
    bits, capabilities, read-only mounts in its own mount namespace, which is where systemd's ReadOnlyPaths= are);
    else None."""
    base = server.get("_base")
    full = _in_process(root, base, path) if base else os.path.join(root, path.lstrip("/"))
    pairs = [(path, full), (os.path.dirname(path), os.path.dirname(full))]
    if is_dir:
        pairs = [(path, full), (os.path.join(path, "blobs"), os.path.join(full, "blobs"))]
    for where, target in pairs:
        try:
            where_stat = os.stat(target)
        except OSError:
            return None
        if server.get("_mounts") is not None:
            read_only = mounted_read_only(server["_mounts"], where)
        else:
            read_only = _statvfs_read_only(target)
        if not read_only and _writable_by(where_stat, server["uid"], server.get("_gids", set()), server.get("_caps")):
            return where
    return None


def proxy_findings(proxies):
    """Docker publishes ports through docker-proxy: -host-ip 0.0.0.0 -host-port N."""
    found = []
    for cmdline in proxies:
        args = dict(zip(cmdline[1::2], cmdline[2::2])) if len(cmdline) > 2 else {}
        args = {key.lstrip("-"): value for key, value in args.items()}
        try:
            published = int(args.get("host-port", "0"))
            container_port = int(args.get("container-port", "0"))
        except ValueError:
            continue
        host_ip = args.get("host-ip", "")
        kind = AI_PORTS.get(container_port) or AI_PORTS.get(published)
        if kind and not is_loopback(host_ip):
            found.append({"kind": "docker_published_ai_port", "severity": KINDS_SEVERITY["docker_published_ai_port"],
                          "pid": None, "server": kind,
                          "address": host_port(host_ip, published),
                          "message": "Docker publishes %s's port %d on %s, which bypasses ufw" % (
                              kind, container_port, host_port(host_ip, published)),
                          "fix": "publish on 127.0.0.1 (container_hardening does) and filter DOCKER-USER (firewall)"})
    return found


def local_user_can_connect(address, port, timeout=1.5):
    """Whether an unprivileged local user (nobody) can open a TCP connection to address:port.

    A child process drops every group and becomes uid/gid 65534, then connects; its exit code tells. True:
    connected; False: refused or timed out; None: no answer possible (not root, or no CAP_SETUID, as in the
    monitoring timer's sandbox). Whatever the firewall in use, this asks the kernel the question that matters."""
    if os.geteuid() != 0:
        return None
    pid = os.fork()
    if pid == 0:  # the child never returns into the caller's code
        code = 3
        try:
            try:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            except OSError:
                code = 2
            else:
                code = 1
                conn = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
                conn.settimeout(timeout)
                conn.connect((address, port))
                conn.close()
                code = 0
        except BaseException:  # noqa: B036 -- refused, timed out, anything: the exit code says not connected
            pass
        finally:
            os._exit(code)
    status = os.waitpid(pid, 0)[1]
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 3
    return {0: True, 1: False}.get(code)


def _loopback_targets(address):
    """The loopback addresses a local user would use to reach a listener on address."""
    if address == "0.0.0.0":
        return ["127.0.0.1"]
    if address == "::":  # dual-stack unless IPV6_V6ONLY, and ::1 may not exist (IPv6 off on lo)
        return ["127.0.0.1", "::1"]
    if address == "::1" or address.startswith("127."):
        return [address]
    return []


def local_access_findings(servers, proxies):
    """local_access_open: an Ollama server (native, or a container port Docker publishes) that any local user
    reaches on loopback, tried as nobody; one finding per server or publish, with every address that let nobody
    in. Only as root (local_user_can_connect); independent of the firewall in use."""
    targets = []
    for server in servers:
        if server["kind"] != "ollama" or server["role"] != "server" or server.get("own_netns"):
            continue
        addresses = [(address, listener["port"]) for listener in server["listeners"]
                     for address in _loopback_targets(listener["address"])]
        targets.append((server["pid"], addresses))
    for cmdline in proxies:
        args = dict(zip(cmdline[1::2], cmdline[2::2])) if len(cmdline) > 2 else {}
        args = {key.lstrip("-"): value for key, value in args.items()}
        try:
            published, inside = int(args.get("host-port", "0")), int(args.get("container-port", "0"))
        except ValueError:
            continue
        if "ollama" in (AI_PORTS.get(inside), AI_PORTS.get(published)):
            targets.append((None, [(address, published) for address in _loopback_targets(args.get("host-ip", ""))]))
    found, seen = [], set()
    for pid, addresses in targets:
        opened = []
        for address, port in addresses:
            if (address, port) not in seen:
                seen.add((address, port))
                if local_user_can_connect(address, port) is True:
                    opened.append(host_port(address, port))
        if opened:
            found.append({"kind": "local_access_open", "severity": KINDS_SEVERITY["local_access_open"],
                          "pid": pid, "server": "ollama", "address": opened[0], "addresses": opened,
                          "message": "any local user (tried as nobody) connects to ollama on %s: a local process "
                                     "skips the proxy's authentication, budgets and audit" % ", ".join(opened),
                          "fix": "let only the proxy's and the server's users through "
                                 "(llmsec.hardening.firewall, firewall_local_access_control)"})
    return found


def window_state(root="/", now=None):
    """The host's model change window (module_utils/change_window.py), under root."""
    return change_window.state(os.path.join(root, change_window.DEFAULT_PATH.lstrip("/")), now)


def change_window_findings(root="/", now=None):
    """A model change window open now (change_window_open, info), or one left behind: past its deadline (its host
    lost mid-change) or a file that opens nothing (change_window_left_open)."""
    window = window_state(root, now)
    if not window["present"]:
        return []
    if window["error"]:
        what = "a model change window file that opens nothing (%s)" % window["error"]
    else:
        what = "the model change window %r opened by %s, %s at %d" % (
            window["change"], window["opened_by"], "expired" if window["expired"] else "open until",
            window["until"])
    kind = "change_window_open" if window["open"] else "change_window_left_open"
    return [{"kind": kind, "severity": KINDS_SEVERITY[kind],
             "path": window["path"], "expired": window["expired"], "until": window.get("until"),
             "message": "%s is here: %s; the model store may be writable and the gateway's model routes "
                        "open" % (window["path"], what),
             "fix": "finish the change (playbooks/model_change.yml closes its window even when a step fails), or "
                    "run playbooks/site.yml, which makes the store read-only again and removes the file"}]


def posture_score(findings):
    """100 minus a weight per finding (high 30, medium 10, low 3), not below 0."""
    weights = {"critical": 50, "high": 30, "medium": 10, "low": 3, "info": 0}
    return max(0, 100 - sum(weights[item["severity"]] for item in findings))


def render_metrics(servers, findings):
    """node_exporter textfile for the monitoring role."""
    lines = ["# HELP llmsec_local_ai_servers AI server processes found, by kind.",
             "# TYPE llmsec_local_ai_servers gauge"]
    counts = {}
    for server in servers:
        if server["role"] == "server":
            counts[server["kind"]] = counts.get(server["kind"], 0) + 1
    for kind in sorted(counts):
        lines.append('llmsec_local_ai_servers{kind="%s"} %d' % (kind, counts[kind]))
    lines += ["# HELP llmsec_local_ai_findings Findings of the last scan, by kind and severity.",
              "# TYPE llmsec_local_ai_findings gauge"]
    by_kind = {}
    for item in findings:
        key = (item["kind"], item["severity"])
        by_kind[key] = by_kind.get(key, 0) + 1
    for kind, severity in sorted(KINDS_SEVERITY.items()):
        lines.append('llmsec_local_ai_findings{kind="%s",severity="%s"} %d' % (kind, severity,
                                                                               by_kind.get((kind, severity), 0)))
    lines += ["# HELP llmsec_local_ai_models_open Model files open by AI servers.",
              "# TYPE llmsec_local_ai_models_open gauge"]
    models = sorted({path for server in servers for path in server["models"]})
    for path in models:
        lines.append('llmsec_local_ai_models_open{path="%s"} 1' % path.replace("\\", "\\\\").replace('"', '\\"'))
    lines += ["# HELP llmsec_local_ai_posture_score 100 minus weighted findings.",
              "# TYPE llmsec_local_ai_posture_score gauge",
              "llmsec_local_ai_posture_score %d" % posture_score(findings)]
    return "\n".join(lines) + "\n"
