"""The apparmor_profile module: compile before write, never replace a foreign file, load only where active."""

import os
import stat

import pytest
from ansible.module_utils import basic

from ansible_collections.llmsec.hardening.plugins.module_utils import apparmor
from ansible_collections.llmsec.hardening.plugins.modules import apparmor_profile

INACTIVE = dict(enabled=False, reason="the kernel has no AppArmor (test)", profiles_path="/nonexistent")


def run(run_module, check=False, diff=False, **args):
    args.setdefault("name", "llmsec-ollama")
    args.setdefault("models", "/models")
    args.setdefault("state", ["/home/ollama", "/tmp"])
    return run_module(apparmor_profile.main, args, check=check, diff=diff)


@pytest.fixture
def inactive(monkeypatch):
    monkeypatch.setattr(apparmor, "host_state", lambda root="/": dict(INACTIVE))


def test_writes_once_and_reports_inactive(run_module, tmp_path, inactive):
    dest = tmp_path / "llmsec-ollama"
    first = run(run_module, dest=str(dest))
    assert first.kind == "exit" and first.result["changed"], first.result
    assert dest.read_text() == first.result["profile"]
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o644
    assert first.result["active"] is False and first.result["loaded"] is False
    assert first.result["reason"] == INACTIVE["reason"]
    assert first.result["validated"].startswith("AppArmor parser version")
    assert not run(run_module, dest=str(dest)).result["changed"]


def test_check_mode_and_diff_write_nothing(run_module, tmp_path, inactive):
    dest = tmp_path / "p"
    run(run_module, dest=str(dest))
    before = dest.read_text()
    out = run(run_module, check=True, diff=True, dest=str(dest), models_writable=True)
    assert out.result["changed"] and "/models/** rwkl," in out.result["diff"]["after"]
    assert dest.read_text() == before


def test_foreign_file_left_alone(run_module, tmp_path, inactive):
    dest = tmp_path / "llmsec-ollama"
    dest.write_text("profile llmsec-ollama {\n  file,\n}\n")
    out = run(run_module, dest=str(dest))
    assert out.kind == "fail" and "was not written by llmsec.hardening" in out.result["msg"]
    assert dest.read_text() == "profile llmsec-ollama {\n  file,\n}\n"


def test_required_fails_before_writing(run_module, tmp_path, inactive):
    dest = tmp_path / "p"
    out = run(run_module, dest=str(dest), require_active=True)
    assert out.kind == "fail" and "AppArmor is required but not active" in out.result["msg"]
    assert not dest.exists()


def test_bad_input_fails_before_writing(run_module, tmp_path, inactive):
    dest = tmp_path / "p"
    out = run(run_module, dest=str(dest), state=["/tmp, /** rwx"])
    assert out.kind == "fail" and out.result["msg"].startswith("state:")
    assert not dest.exists()


def test_loads_where_active_and_again_only_on_change(run_module, tmp_path, monkeypatch):
    """A stand-in apparmor_parser: compiles with the real one, records loads into a fake profiles list."""
    real = basic.AnsibleModule.get_bin_path
    profiles, log = tmp_path / "profiles", tmp_path / "loads"
    profiles.write_text("docker-default (enforce)\n")
    fake = tmp_path / "apparmor_parser"
    fake.write_text("#!/bin/sh\ncase \"$1\" in -r) echo \"$@\" >>%s; echo 'llmsec-ollama (enforce)' >>%s;; "
                    "*) exec %s \"$@\";; esac\n" % (log, profiles, real(None, "apparmor_parser")))
    fake.chmod(0o755)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: str(fake))
    monkeypatch.setattr(apparmor, "host_state",
                        lambda root="/": dict(enabled=True, reason="", profiles_path=str(profiles)))
    dest = tmp_path / "llmsec-ollama"
    out = run(run_module, dest=str(dest))
    assert out.result["loaded"] and out.result["active"] and out.result["changed"]
    assert log.read_text().split() == ["-r", "-W", "-T", str(dest)]
    assert not run(run_module, dest=str(dest)).result["changed"]  # loaded, unchanged: no reload
    assert len(log.read_text().splitlines()) == 1


def test_check_mode_on_a_host_without_the_parser_yet(run_module, tmp_path, inactive, monkeypatch):
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    dest = tmp_path / "p"
    out = run(run_module, check=True, dest=str(dest))
    assert out.kind == "exit" and out.result["changed"] and out.result["validated"] == ""
    assert not dest.exists()
    out = run(run_module, dest=str(dest))
    assert out.kind == "fail" and "apparmor_parser is not installed" in out.result["msg"] and not dest.exists()
