"""seccomp profile generation: baselines, hardening, conditions, traces, validation."""

import json
import shutil
import subprocess

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import seccomp as s

X86 = ("SCMP_ARCH_X86_64",)


def build(**kwargs):
    kwargs.setdefault("use_libseccomp", False)
    return s.build_profile(**kwargs)


def rules_for(profile, name):
    return [rule for rule in profile["syscalls"] if name in rule["names"]]


def unconditional(profile):
    return {n for r in profile["syscalls"] if r["action"] == s.ALLOW and not r.get("args") and not r.get("includes")
            for n in r["names"]}


# --- shape ---------------------------------------------------------------------

@pytest.mark.parametrize("baseline", ["docker-default", "ollama"])
def test_profile_shape(baseline):
    profile, info = build(baseline=baseline)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert profile["archMap"] == [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]
    assert "architectures" not in profile  # Docker refuses both keys
    assert profile["syscalls"][0]["action"] == s.ALLOW and not profile["syscalls"][0].get("args")
    assert info["allowed_count"] == len(info["allowed"]) > 150
    json.loads(s.render(profile))


def test_render_is_stable():
    assert s.render(build(baseline="ollama")[0]) == s.render(build(baseline="ollama")[0])


# --- hardening -------------------------------------------------------------------

HARDEN_SAMPLE = ["mount", "umount2", "unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "bpf",
                 "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
                 "init_module", "finit_module", "delete_module", "open_by_handle_at", "userfaultfd",
                 "io_uring_setup", "io_uring_enter", "io_uring_register"]


@pytest.mark.parametrize("baseline", ["docker-default", "ollama"])
def test_harden_denies_the_escape_set(baseline):
    profile, info = build(baseline=baseline, caps=["SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "DAC_READ_SEARCH"])
    for name in HARDEN_SAMPLE:
        assert name not in info["allowed"], name
        assert name in info["denied"], name


def test_harden_off_keeps_what_docker_allows_with_the_caps():
    _profile, info = build(baseline="docker-default", harden=False, caps=["SYS_ADMIN"], kernel="6.1")
    for name in ("mount", "unshare", "setns", "bpf", "ptrace"):
        assert name in info["allowed"], name


def test_deny_wins_over_allow_and_trace():
    _profile, info = build(baseline="none", allow=["chmod", "read"], deny=["chmod"], trace_text="chmod\nwrite\n")
    assert "chmod" not in info["allowed"]
    assert {"read", "write"} <= set(info["allowed"])


def test_personality_only_safe_values():
    profile, _info = build(baseline="docker-default")
    assert "personality" not in unconditional(profile)
    values = sorted(r["args"][0]["value"] for r in rules_for(profile, "personality"))
    assert values == sorted(s.SAFE_PERSONALITIES)
    # Even when a user allows it plainly, harden keeps it conditional.
    profile, _info = build(baseline="none", allow=["personality"])
    assert "personality" not in unconditional(profile)
    assert len(rules_for(profile, "personality")) == len(s.SAFE_PERSONALITIES)


def test_personality_plain_without_harden():
    profile, _info = build(baseline="none", allow=["personality"], harden=False)
    assert "personality" in unconditional(profile)


def test_socket_family_rules():
    profile, _info = build(baseline="docker-default")
    assert "socket" not in unconditional(profile)
    conds = sorted((r["args"][0]["op"], r["args"][0]["value"]) for r in rules_for(profile, "socket"))
    assert conds == [("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40), ("SCMP_CMP_LT", 38)]
    profile, _info = build(baseline="ollama")
    families = sorted(r["args"][0]["value"] for r in rules_for(profile, "socket"))
    assert families == [1, 2, 10, 16]


# --- moby's conditions ------------------------------------------------------------

def test_clone_namespace_mask_without_sys_admin():
    for baseline in ("docker-default", "ollama"):
        profile, _info = build(baseline=baseline)
        assert "clone" not in unconditional(profile)
        (rule,) = rules_for(profile, "clone")
        assert rule["args"] == [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
        (clone3,) = rules_for(profile, "clone3")
        assert clone3["action"] == s.ERRNO and clone3["errnoRet"] == 38


def test_clone_unrestricted_with_sys_admin_and_harden_off():
    profile, _info = build(baseline="docker-default", caps=["CAP_SYS_ADMIN"], harden=False)
    assert "clone" in unconditional(profile) and "clone3" in unconditional(profile)
    assert not [r for r in rules_for(profile, "clone3") if r["action"] == s.ERRNO]


def test_arch_conditions_resolved():
    _profile, x86 = build(baseline="docker-default")
    _profile, arm = build(baseline="docker-default", arches=["aarch64"])
    assert "arch_prctl" in x86["allowed"] and "arch_prctl" not in arm["allowed"]
    assert "modify_ldt" in x86["allowed"]
    both, _info = build(baseline="docker-default", arches=["x86_64", "arm64"])
    (rule,) = [r for r in both["syscalls"] if r["names"] == ["arch_prctl"]]
    assert rule["includes"] == {"arches": ["amd64"]}
    assert [a["architecture"] for a in both["archMap"]] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]


def test_min_kernel_condition():
    _profile, old = build(baseline="docker-default", harden=False, kernel="4.4.0")
    _profile, new = build(baseline="docker-default", harden=False, kernel="6.1.0-13-amd64")
    assert "ptrace" not in old["allowed"] and "ptrace" in new["allowed"]


def test_capability_names_normalised():
    _profile, plain = build(baseline="docker-default", caps=["SYS_CHROOT"], harden=False)
    _profile, prefixed = build(baseline="docker-default", caps=["CAP_SYS_CHROOT"], harden=False)
    _profile, none = build(baseline="docker-default", harden=False)
    assert "chroot" in plain["allowed"] and plain == prefixed and "chroot" not in none["allowed"]


def test_docker_default_counts():
    """x86_64 names only; Docker's own count (about 370) adds the 32-bit ABI we do not map."""
    _profile, dd = build(baseline="docker-default", harden=False)
    _profile, ollama = build(baseline="ollama")
    assert 280 <= dd["allowed_count"] <= 300
    assert ollama["allowed_count"] < dd["allowed_count"]
    assert dd["unknown_in_baseline"]  # 32-bit-only names of the baseline are left out, and said so
    assert "_llseek" in dd["unknown_in_baseline"]


def test_ollama_baseline_keeps_arch_specific_names_apart():
    _profile, arm = build(baseline="ollama", arches=["aarch64"])
    assert "open" not in arm["allowed"] and "openat" in arm["allowed"]
    assert "open" in arm["unknown_in_baseline"]


# --- traces ------------------------------------------------------------------------

STRACE_C = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 45.00    0.000450          15        30           mmap
 20.00    0.000200          10        20         3 openat
  0.00    0.000000           0         1           execve
------ ----------- ----------- --------- --------- ----------------
100.00    0.001000                    51         3 total
"""

STRACE_LOG = """\
execve("/usr/bin/ollama", ["ollama", "serve"], 0x7ffd /* 20 vars */) = 0
[pid  4242] epoll_pwait(4, [], 128, 0, NULL, 0) = 0
4243  futex(0xc000080148, FUTEX_WAKE_PRIVATE, 1) = 1
4243  <... futex resumed>) = 0
12:00:01.123456 accept4(3, NULL, NULL, SOCK_CLOEXEC) = -1 EAGAIN
--- SIGURG {si_signo=SIGURG, si_code=SI_TKILL, si_pid=1, si_uid=0} ---
+++ exited with 0 +++
"""


def test_parse_strace_summary():
    assert s.parse_trace(STRACE_C) == {"mmap", "openat", "execve"}


def test_parse_strace_log():
    assert s.parse_trace(STRACE_LOG) == {"execve", "epoll_pwait", "futex", "accept4"}


def test_parse_plain_list_with_comments():
    assert s.parse_trace("read write, openat\n# recorded on 2026-11-26\nclose # trailing\n") == \
        {"read", "write", "openat", "close"}


def test_parse_garbage_refused():
    with pytest.raises(s.SeccompError, match="cannot read the trace line"):
        s.parse_trace("this is /not/ a trace")


def test_from_trace_merges_the_runtime_base():
    profile, info = build(baseline="none", trace_text=STRACE_C)
    assert {"mmap", "openat", "execve", "exit_group", "futex"} <= set(info["allowed"])
    assert info["allowed_count"] < 60
    assert profile["syscalls"][0]["names"] == sorted(profile["syscalls"][0]["names"])


def test_empty_trace_gives_the_runtime_base_only():
    _profile, info = build(baseline="none", trace_text="")
    assert set(info["allowed"]) == {n for n in s.RUNTIME_BASE if n in s.seccomp_data.SYSCALLS["SCMP_ARCH_X86_64"]}


# --- validation --------------------------------------------------------------------

def test_unknown_names_listed_per_option():
    with pytest.raises(s.SeccompError) as caught:
        build(allow=["opneat", "read"], deny=["mount", "Mount"], trace_text="frobnicate\n")
    message = str(caught.value)
    assert "allow: opneat" in message and "deny: Mount" in message and "from_trace: frobnicate" in message
    assert "read" not in message.split("allow:")[1].split(";")[0]


def test_name_valid_on_another_arch_only():
    with pytest.raises(s.SeccompError, match="open"):
        build(arches=["aarch64"], allow=["open"])


def test_bad_architecture():
    with pytest.raises(s.SeccompError, match="architecture 'mips' is not supported"):
        build(arches=["mips"])
    with pytest.raises(s.SeccompError, match="at least one"):
        build(arches=[])


def test_bad_baseline():
    with pytest.raises(s.SeccompError, match="baseline must be"):
        build(baseline="default")


def test_huge_allow_list():
    names = list(s.seccomp_data.SYSCALLS["SCMP_ARCH_X86_64"]) * 50
    _profile, info = build(baseline="none", allow=names, harden=False)
    assert info["allowed_count"] == len(s.seccomp_data.SYSCALLS["SCMP_ARCH_X86_64"])


def test_shipped_table_agrees_with_libseccomp():
    """The table used when python3-seccomp is absent names what Debian's libseccomp resolves (make setup installs it)."""
    script = ("import json, seccomp\n"
              "names = json.load(open(0))\n"
              "print(json.dumps([n for n in names if seccomp.resolve_syscall(seccomp.Arch.X86_64, n) < 0]))")
    table = s.seccomp_data.SYSCALLS["SCMP_ARCH_X86_64"]
    out = subprocess.run(["/usr/bin/python3", "-c", script], input=json.dumps(table),
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    assert len(table) >= 360


# --- Docker itself -------------------------------------------------------------------

def docker_run(tmp_path, profile, command):
    path = tmp_path / "profile.json"
    path.write_text(s.render(profile))
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--security-opt", "seccomp=%s" % path,
         "--cap-add", "SYS_ADMIN", "llmsec/debian12:latest", "sh", "-c", command],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def docker():
    # make test starts the engine and builds the image before the unit tests.
    assert shutil.which("docker"), "docker is needed (make setup installs it)"
    assert subprocess.run(["docker", "image", "inspect", "llmsec/debian12:latest"],
                          capture_output=True, check=False).returncode == 0, "run make images first"


@pytest.mark.parametrize("baseline", ["docker-default", "ollama"])
def test_docker_accepts_and_enforces_the_profile(docker, tmp_path, baseline):
    """The container starts under the profile; SYS_ADMIN is granted, yet mount and unshare get EPERM."""
    profile, _info = s.build_profile(baseline=baseline, caps=[])
    result = docker_run(tmp_path, profile, "echo started; mount -t tmpfs none /mnt; unshare -U true; echo rc=$?")
    assert "started" in result.stdout, result.stderr
    assert "Operation not permitted" in result.stderr, result.stderr
    assert "rc=1" in result.stdout


def test_docker_refuses_nothing_it_needs_without_harden(docker, tmp_path):
    """Control: the same mount works when the profile does not deny it (the test above can fail)."""
    profile, _info = s.build_profile(baseline="docker-default", caps=["SYS_ADMIN"], harden=False)
    result = docker_run(tmp_path, profile, "mount -t tmpfs none /mnt && echo mounted")
    assert "mounted" in result.stdout, result.stderr
