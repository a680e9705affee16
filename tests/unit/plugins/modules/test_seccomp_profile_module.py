"""The seccomp_profile module: file writing, check and diff mode, errors."""

import json
import os
import stat

from ansible_collections.llmsec.hardening.plugins.modules import seccomp_profile


def run(run_module, check=False, diff=False, **args):
    args.setdefault("architectures", ["x86_64"])
    return run_module(seccomp_profile.main, args, check=check, diff=diff)


def test_returns_profile_and_counts(run_module):
    out = run(run_module, baseline="ollama")
    assert out.kind == "exit" and not out.result["changed"]
    assert out.result["profile"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert out.result["allowed_count"] == len(out.result["allowed"]) > 150
    assert "mount" in out.result["denied"]


def test_writes_idempotently_with_mode_0644(run_module, tmp_path):
    dest = tmp_path / "ollama.json"
    first = run(run_module, baseline="ollama", dest=str(dest))
    assert first.result["changed"] and first.result["dest"] == str(dest)
    assert json.loads(dest.read_text()) == first.result["profile"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o644
    assert not run(run_module, baseline="ollama", dest=str(dest)).result["changed"]


def test_check_mode_and_diff(run_module, tmp_path):
    dest = tmp_path / "p.json"
    run(run_module, baseline="ollama", dest=str(dest))
    before = dest.read_text()
    out = run(run_module, check=True, diff=True, baseline="ollama", deny=["chmod"], dest=str(dest))
    assert out.result["changed"]
    assert '"chmod"' in out.result["diff"]["before"] and '"chmod"' not in out.result["diff"]["after"]
    assert dest.read_text() == before  # check mode wrote nothing


def test_mode_change_alone_is_a_change(run_module, tmp_path):
    dest = tmp_path / "p.json"
    run(run_module, baseline="none", allow=["read"], dest=str(dest))
    os.chmod(dest, 0o600)
    assert run(run_module, baseline="none", allow=["read"], dest=str(dest)).result["changed"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o644


def test_unknown_names_fail_and_are_listed(run_module):
    out = run(run_module, allow=["opneat"], deny=["frob"])
    assert out.kind == "fail"
    assert "allow: opneat" in out.result["msg"] and "deny: frob" in out.result["msg"]


def test_from_trace(run_module, tmp_path):
    trace = tmp_path / "trace"
    trace.write_text("% time     seconds  usecs/call     calls    errors syscall\n"
                     " 50.00    0.000100          10        10           mmap\n")
    out = run(run_module, baseline="none", from_trace=str(trace))
    assert "mmap" in out.result["allowed"] and out.result["allowed_count"] < 60


def test_from_trace_missing_file(run_module, tmp_path):
    out = run(run_module, from_trace=str(tmp_path / "missing"))
    assert out.kind == "fail" and out.result["msg"].startswith("from_trace: cannot read")


def test_dest_directory_missing(run_module, tmp_path):
    out = run(run_module, dest=str(tmp_path / "no" / "p.json"))
    assert out.kind == "fail" and "dest:" in out.result["msg"]


def test_default_architecture_is_the_hosts(run_module):
    out = run_module(seccomp_profile.main, {"baseline": "none", "allow": ["read"]})
    assert out.result["profile"]["archMap"][0]["architecture"] == "SCMP_ARCH_X86_64"
