# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Build Docker/OCI seccomp profiles: a baseline, a hardening deny set, allow and deny lists.

The output follows moby's profile schema (defaultAction, defaultErrnoRet, archMap, syscalls
with names/action/args/errnoRet). Capability, kernel and architecture conditions of the
baseline (moby's includes/excludes) are resolved here, for the capabilities the container
gets, so that the counts are what the kernel enforces. Deny always wins.
"""

from __future__ import annotations

import copy
import json
import re

from ansible_collections.llmsec.hardening.plugins.module_utils import seccomp_data

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
EPERM = 1
ENOSYS = 38

# Accepted spellings of the architectures we have syscall tables for.
ARCH_NAMES = {
    "x86_64": "SCMP_ARCH_X86_64", "amd64": "SCMP_ARCH_X86_64", "SCMP_ARCH_X86_64": "SCMP_ARCH_X86_64",
    "aarch64": "SCMP_ARCH_AARCH64", "arm64": "SCMP_ARCH_AARCH64", "SCMP_ARCH_AARCH64": "SCMP_ARCH_AARCH64",
}
# moby's includes/excludes name architectures the Go way.
GO_ARCH = {"SCMP_ARCH_X86_64": "amd64", "SCMP_ARCH_AARCH64": "arm64"}

# On by default (harden=true): ways out of a container, kernel attack surface and
# introspection of other processes, none of which an inference server needs.
HARDEN_DENY = (
    "mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "lookup_dcookie", "syslog",
    "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "vhangup", "uselib", "nfsservctl",
)

# personality(2) values that change nothing dangerous (moby's list): PER_LINUX,
# PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query).
SAFE_PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

# clone(2) with any namespace flag (NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET).
CLONE_NAMESPACE_MASK = 0x7E020000

# socket(2) families. The harden rule blocks AF_ALG (38, kernel crypto) and AF_VSOCK
# (40, the hypervisor) like moby's current profile; the ollama baseline allows only
# what a network server uses.
AF_ALG = 38
AF_VSOCK = 40
OLLAMA_SOCKET_FAMILIES = (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK (Go's net.Interfaces)

# Ollama (Go) and its llama.cpp runners, plus what a dynamically linked program and
# an interpreter need to start: threads, mmap of weights, exec of the runner, local
# TCP, GPU ioctls, files under its home and model store. Names absent on an
# architecture (open, stat ... on arm64) are dropped for it.
OLLAMA_BASELINE = (
    # process, threads, signals
    "execve", "execveat", "fork", "vfork", "exit", "exit_group", "wait4", "waitid", "kill", "tkill", "tgkill", "getpid",
    "getppid", "gettid", "getpgid", "getpgrp", "setpgid", "getsid", "setsid", "prctl", "arch_prctl",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv", "sched_yield",
    "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_getscheduler", "sched_setscheduler",
    "sched_get_priority_max", "sched_get_priority_min", "getpriority", "setpriority", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigqueueinfo", "sigaltstack",
    "restart_syscall", "pause", "alarm", "pidfd_open", "pidfd_send_signal", "capget",
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "getrlimit",
    # runc drops to the container user after loading the profile unless no-new-privileges is set;
    # with no capabilities left these can only lower privileges.
    "capset", "setgroups", "setuid", "setgid", "setresuid", "setresgid", "setfsuid", "setfsgid",
    "setrlimit", "prlimit64", "getrusage", "times", "sysinfo", "uname", "umask",
    # memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
    "munlock", "mlockall", "munlockall", "membarrier", "memfd_create", "get_mempolicy",
    # time
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
    "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "getitimer", "setitimer",
    # files
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
    "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "stat", "fstat", "lstat",
    "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir",
    "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat",
    "chmod", "fchmod", "fchmodat", "fchown", "fchownat", "chown", "lchown", "utimensat", "utime",
    "utimes", "futimesat", "truncate", "ftruncate", "fallocate", "fadvise64", "fsync", "fdatasync",
    "sync_file_range", "flock", "fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "ioctl",
    "copy_file_range", "sendfile", "splice", "tee", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
    "flistxattr", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    # polling and events
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4",
    # network (socket itself is a conditional rule)
    "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "setsockopt",
    "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
    "socketpair",
    # randomness
    "getrandom",
)

# What runc and the dynamic loader need between applying the profile and the
# program's first traced syscall; merged into a recorded (from_trace) allow list.
RUNTIME_BASE = (
    "execve", "exit", "exit_group", "rt_sigreturn", "rt_sigaction", "rt_sigprocmask", "sigaltstack",
    "futex", "brk", "mmap", "munmap", "mprotect", "arch_prctl", "set_tid_address", "set_robust_list",
    "rseq", "prlimit64", "getrandom", "read", "write", "close", "fstat", "newfstatat", "openat",
    "fcntl", "getpid", "gettid", "tgkill", "nanosleep", "clock_gettime", "clock_nanosleep",
    "restart_syscall", "capget", "capset", "setgroups", "setuid", "setgid", "setresuid", "setresgid",
    "chdir", "getcwd",
)

NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# strace -f / -qq -e trace=all lines: optional "[pid N]" or "N " and a timestamp, then name(.
TRACE_CALL_RE = re.compile(r"^(?:\[pid\s+\d+\]\s+|\d+\s+)?(?:[\d:.]+\s+)?([a-z_][a-z0-9_]*)\(")
# strace -c summary rows: "% time  seconds  usecs/call  calls  [errors]  syscall".
TRACE_SUMMARY_RE = re.compile(r"^\s*\d+(?:\.\d+)?\s+\d+(?:\.\d+)?\s+\d+\s+\d+(?:\s+\d+)?\s+([a-z_][a-z0-9_]*)\s*$")


class SeccompError(Exception):
    pass


def native_arch(machine):
    """The SCMP_ARCH_* name for a uname machine or Go architecture."""
    try:
        return ARCH_NAMES[machine]
    except KeyError:
        raise SeccompError("architecture %r is not supported; use one of: x86_64, aarch64" % machine)


def known_syscalls(arch, use_libseccomp=True):
    """Syscall names of an architecture: from libseccomp when it is installed, else the shipped table."""
    if use_libseccomp:
        try:
            import seccomp as libseccomp  # Debian's python3-seccomp
        except ImportError:
            libseccomp = None
        if libseccomp is not None:
            scmp = getattr(libseccomp.Arch, arch.replace("SCMP_ARCH_", ""))
            names = set()
            for number in range(1024):
                try:
                    name = libseccomp.resolve_syscall(scmp, number)
                except (ValueError, RuntimeError):
                    continue
                names.add(name.decode() if isinstance(name, bytes) else name)
            if names:
                return names, "libseccomp"
    return set(seccomp_data.SYSCALLS[arch]), "table"


def parse_trace(text):
    """Syscall names from `strace -f -c`, `strace -f -qq -e trace=all` output, or a plain list."""
    names = set()
    for raw in text.splitlines():
        line = re.sub(r"^(?:\[pid\s+\d+\]|\d+)\s+(?=\S)", "", raw.strip()) if not TRACE_SUMMARY_RE.match(raw) else raw
        line = line.strip()
        if not line or line.startswith(("%", "---", "+++", "<...", "strace:")) or set(line) <= set("- "):
            continue
        match = TRACE_SUMMARY_RE.match(line)
        if match:
            if match.group(1) != "total":
                names.add(match.group(1))
            continue
        match = TRACE_CALL_RE.match(line)
        if match:
            names.add(match.group(1))
            continue
        for word in re.split(r"[\s,]+", line):
            if NAME_RE.match(word):
                names.add(word)
            elif word and not word.startswith("#"):
                raise SeccompError("cannot read the trace line %r: expected strace output or syscall names" % raw)
            elif word.startswith("#"):
                break
    names.discard("total")
    return names


def _kernel_at_least(kernel, minimum):
    def parts(version):
        return tuple(int(p) for p in re.findall(r"\d+", version)[:2])
    return parts(kernel) >= parts(minimum)


def _resolve_conditions(rule, arches, caps, kernel):
    """moby's includes/excludes for these arches, capabilities and kernel.

    Returns None when the rule does not apply, else the rule without the conditions
    that were settled (an arch filter stays only when it holds for some of the arches).
    """
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if any(cap in caps for cap in exc.get("caps") or []):
        return None
    if exc.get("minKernel") and _kernel_at_least(kernel, exc["minKernel"]):
        return None
    if inc.get("caps") and not all(cap in caps for cap in inc["caps"]):
        return None
    if inc.get("minKernel") and not _kernel_at_least(kernel, inc["minKernel"]):
        return None
    applies = [a for a in arches
               if (not inc.get("arches") or GO_ARCH[a] in inc["arches"])
               and GO_ARCH[a] not in (exc.get("arches") or [])]
    if not applies:
        return None
    out = {key: value for key, value in rule.items() if key not in ("includes", "excludes", "comment", "name")}
    if out.get("args"):
        out["args"] = [dict({"valueTwo": 0}, **arg) for arg in out["args"]]
    else:
        out.pop("args", None)
    if len(applies) < len(arches):
        out["includes"] = {"arches": [GO_ARCH[a] for a in applies]}
    return out


def _rule(names, action=ALLOW, args=None, errno=None):
    rule = {"names": sorted(names), "action": action}
    if args:
        rule["args"] = args
    if errno is not None:
        rule["errnoRet"] = errno
    return rule


def _arg(index, value, op="SCMP_CMP_EQ", value_two=0):
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def _baseline_rules(baseline, arches, caps, kernel):
    if baseline == "none":
        return []
    if baseline == "docker-default":
        rules = []
        for rule in copy.deepcopy(seccomp_data.DOCKER_DEFAULT["syscalls"]):
            if rule.get("name") and not rule.get("names"):
                rule["names"] = [rule["name"]]
            resolved = _resolve_conditions(rule, arches, caps, kernel)
            if resolved is not None:
                rules.append(resolved)
        return rules
    if baseline == "ollama":
        rules = [_rule(OLLAMA_BASELINE)]
        rules += [_rule(["socket"], args=[_arg(0, family)]) for family in OLLAMA_SOCKET_FAMILIES]
        rules += [_rule(["personality"], args=[_arg(0, value)]) for value in SAFE_PERSONALITIES]
        rules.append(_rule(["clone"], args=[_arg(0, CLONE_NAMESPACE_MASK, "SCMP_CMP_MASKED_EQ", 0)]))
        # Go and glibc fall back to clone when clone3 says ENOSYS; clone3's flags are
        # in memory, out of seccomp's reach.
        rules.append(_rule(["clone3"], action=ERRNO, errno=ENOSYS))
        return rules
    raise SeccompError("baseline must be docker-default, ollama or none, not %r" % baseline)


def _take_unconditional(rules, name):
    """Remove name from the unconditional allow rules; True if it was there."""
    had = False
    for rule in rules:
        if rule["action"] == ALLOW and not rule.get("args") and name in rule["names"]:
            rule["names"] = [n for n in rule["names"] if n != name]
            had = True
    return had


def _harden_socket(rules):
    """socket(2) with any family but AF_ALG and AF_VSOCK, in place of an unconditional allow."""
    if _take_unconditional(rules, "socket"):
        rules.append(_rule(["socket"], args=[_arg(0, AF_ALG, "SCMP_CMP_LT")]))
        rules.append(_rule(["socket"], args=[_arg(0, AF_ALG + 1)]))
        rules.append(_rule(["socket"], args=[_arg(0, AF_VSOCK, "SCMP_CMP_GT")]))


def _harden_personality(rules):
    """personality(2) only with the safe values."""
    if _take_unconditional(rules, "personality"):
        present = {rule["args"][0]["value"] for rule in rules
                   if rule["names"] == ["personality"] and rule.get("args")}
        rules.extend(_rule(["personality"], args=[_arg(0, v)]) for v in SAFE_PERSONALITIES if v not in present)


def build_profile(baseline="docker-default", allow=(), deny=(), harden=True, trace_text=None,
                  arches=("SCMP_ARCH_X86_64",), caps=(), kernel="6.1", use_libseccomp=True):
    """Return (profile, info). info: allowed (sorted names), denied, unknown_in_baseline, validator."""
    if not arches:
        raise SeccompError("architectures must name at least one architecture")
    arches = [native_arch(a) for a in arches]
    caps = ["CAP_" + c.upper().replace("CAP_", "", 1) for c in caps]
    known = {}
    validator = "table"
    for arch in arches:
        known[arch], validator = known_syscalls(arch, use_libseccomp)
    known_any = set().union(*known.values())

    requested = {"allow": list(allow), "deny": list(deny)}
    traced = set()
    if trace_text is not None:
        traced = parse_trace(trace_text)
        requested["from_trace"] = sorted(traced)
    bad = {}
    for option, names in requested.items():
        wrong = sorted({n for n in names if not NAME_RE.match(n or "") or n not in known_any})
        if wrong:
            bad[option] = wrong
    if bad:
        raise SeccompError("unknown syscall names for %s (checked with %s): %s" % (
            ", ".join(arches), validator, "; ".join("%s: %s" % (k, ", ".join(v)) for k, v in sorted(bad.items()))))

    rules = _baseline_rules(baseline, arches, caps, kernel)
    if trace_text is not None:
        rules.append(_rule(set(RUNTIME_BASE) | traced))
    if allow:
        rules.append(_rule(allow))
    if harden:
        _harden_socket(rules)
        _harden_personality(rules)

    denied = set(deny) | (set(HARDEN_DENY) if harden else set())
    unknown = set()
    kept = []
    for rule in rules:
        names = []
        for name in rule["names"]:
            if name not in known_any:
                unknown.add(name)
            elif rule["action"] == ALLOW and name in denied:
                continue
            else:
                names.append(name)
        if names:
            rule["names"] = sorted(set(names))
            kept.append(rule)

    # One unconditional allow rule first, then conditional ones, then errno rules.
    plain = sorted({n for r in kept if r["action"] == ALLOW and not r.get("args") and not r.get("includes")
                    for n in r["names"]})
    others = [r for r in kept if not (r["action"] == ALLOW and not r.get("args") and not r.get("includes"))]
    others = [r for r in others if not (r["action"] == ALLOW and set(r["names"]) <= set(plain) and not r.get("args"))]
    others.sort(key=lambda r: (r["action"] != ALLOW, r["names"], json.dumps(r.get("args"), sort_keys=True)))
    syscalls = ([_rule(plain)] if plain else []) + others
    profile = {
        "defaultAction": ERRNO,
        "defaultErrnoRet": EPERM,
        "archMap": [{"architecture": arch, "subArchitectures": []} for arch in arches],
        "syscalls": syscalls,
    }
    allowed = sorted({n for r in syscalls if r["action"] == ALLOW for n in r["names"]})
    info = {
        "allowed": allowed,
        "allowed_count": len(allowed),
        "denied": sorted(n for n in denied if n in known_any),
        "unknown_in_baseline": sorted(unknown),
        "validator": validator,
    }
    return profile, info


def render(profile):
    """The profile as the file Docker reads: stable, indented JSON."""
    return json.dumps(profile, indent=2, sort_keys=True) + "\n"
