"""Benchmark: how many syscalls each generated seccomp profile allows, against Docker's default.

    python3 tests/bench/seccomp_profiles.py

Docker's default is counted as Docker applies it on amd64: the x86_64 names plus the 32-bit
x86 and x32 ABIs it maps (resolved with libseccomp when /usr/bin/python3 has Debian's
python3-seccomp; otherwise only the x86_64 figure is printed). Also prints the time to
build each profile.
"""

import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.llmsec.hardening.plugins.module_utils import seccomp, seccomp_data  # noqa: E402

DOCKER_AS_APPLIED = r"""
import json, sys, seccomp
names = json.load(sys.stdin)
count = 0
for name in names:
    for arch in (seccomp.Arch.X86_64, seccomp.Arch.X86, seccomp.Arch.X32):
        try:
            if seccomp.resolve_syscall(arch, name) >= 0:
                count += 1
                break
        except (ValueError, RuntimeError):
            pass
print(count)
"""


def docker_default_as_applied():
    """Names Docker's default allows with its default capabilities, valid on x86_64, x86 or x32."""
    caps = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
            "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
    names = set()
    for rule in seccomp_data.DOCKER_DEFAULT["syscalls"]:
        resolved = seccomp._resolve_conditions(rule, ["SCMP_ARCH_X86_64"], ["CAP_" + c for c in caps], "6.1")
        if resolved is not None and rule["action"] == seccomp.ALLOW:
            names.update(rule["names"])
    try:
        out = subprocess.run(["/usr/bin/python3", "-c", DOCKER_AS_APPLIED], input=json.dumps(sorted(names)),
                             capture_output=True, text=True, check=True)
        return int(out.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None


def main():
    rows = []
    for label, kwargs in [
        ("docker-default, x86_64 only, no capabilities, harden off", dict(baseline="docker-default", harden=False)),
        ("docker-default + harden, no capabilities", dict(baseline="docker-default")),
        ("ollama + harden (container_hardening's default)", dict(baseline="ollama")),
        ("ollama + harden, NET_BIND_SERVICE", dict(baseline="ollama", caps=["NET_BIND_SERVICE"])),
    ]:
        start = time.perf_counter()
        for _round in range(20):
            profile, info = seccomp.build_profile(use_libseccomp=False, **kwargs)
        elapsed = (time.perf_counter() - start) / 20
        rows.append((label, info["allowed_count"], len(profile["syscalls"]), elapsed * 1000))
    applied = docker_default_as_applied()
    print("%-62s %8s %6s %9s" % ("profile (amd64)", "allowed", "rules", "build ms"))
    if applied is not None:
        print("%-62s %8d %6s %9s" % ("Docker's default as Docker applies it (x86_64 + x86 + x32)", applied, "-", "-"))
    else:
        print("Docker's default as applied: needs python3-seccomp for /usr/bin/python3")
    for label, allowed, rules, ms in rows:
        print("%-62s %8d %6d %9.2f" % (label, allowed, rules, ms))


main()
