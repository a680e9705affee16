"""The systemd_environment module against a fake unit tree in tmp_path.

Only `systemctl show` is faked; files are real, so backups, modes and atomic
writes are exercised as they are on a host.
"""

import os

import pytest
from ansible.module_utils import basic

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_env
from ansible_collections.llmsec.hardening.plugins.modules import systemd_environment

WANTED = {"OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_ORIGINS": ""}


@pytest.fixture
def tree(tmp_path, monkeypatch):
    etc = tmp_path / "etc"
    lib = tmp_path / "lib"
    (etc / "ollama.service.d").mkdir(parents=True)
    lib.mkdir()
    unit = lib / "ollama.service"
    unit.write_text("[Service]\nExecStart=/usr/local/bin/ollama serve\nEnvironment=\"PATH=/usr/bin\"\n")
    monkeypatch.setattr(systemd_env, "ETC_UNIT_DIR", str(etc))
    monkeypatch.setattr(systemd_env, "UNIT_DIRS", (str(etc), str(lib)))
    state = {"LoadState": "loaded", "FragmentPath": str(unit), "EnvironmentFiles": ""}

    def run_command(self, args, **kwargs):
        dropins = " ".join(str(p) for p in sorted((etc / "ollama.service.d").glob("*.conf")))
        props = dict(state, DropInPaths=dropins)
        return 0, "".join("%s=%s\n" % item for item in props.items()), ""

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/bin/" + name if name == "systemctl" else None)
    return {"etc": etc, "lib": lib, "state": state, "dropin_dir": etc / "ollama.service.d"}


def test_writes_dropin_then_is_idempotent(run_module, tree):
    first = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED})
    assert first.kind == "exit" and first.result["changed"]
    dropin = tree["dropin_dir"] / "50-llmsec-hardening.conf"
    assert dropin.read_text().splitlines()[2:] == [
        'Environment="OLLAMA_HOST=127.0.0.1:11434"', 'Environment="OLLAMA_ORIGINS="']
    assert oct(os.stat(dropin).st_mode & 0o777) == "0o644"
    assert first.result["effective"] == WANTED
    second = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED})
    assert not second.result["changed"]


def test_check_mode_changes_nothing_and_predicts(run_module, tree):
    override = tree["dropin_dir"] / "override.conf"
    override.write_text('[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0"\n')
    result = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED}, check=True, diff=True)
    assert result.result["changed"]
    assert result.result["fixed_files"] == [str(override)]
    assert override.read_text() == '[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0"\n'
    assert sorted(os.listdir(tree["dropin_dir"])) == ["override.conf"]
    assert len(result.result["diff"]) == 2


def test_fix_takes_conflict_out_with_backup(run_module, tree):
    override = tree["dropin_dir"] / "override.conf"
    override.write_text('[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0" "OLLAMA_DEBUG=1"\n')
    os.chmod(override, 0o640)
    result = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED})
    assert result.result["conflicts"][0]["path"] == str(override)
    assert result.result["effective"] == WANTED
    values = dict(a for e in systemd_env.scan_unit_text("o", override.read_text()) for a in e["assignments"])
    assert values == {"OLLAMA_DEBUG": "1"}
    assert oct(os.stat(override).st_mode & 0o777) == "0o640"  # mode kept
    backup = result.result["backup_files"][0]
    assert "OLLAMA_HOST=0.0.0.0" in open(backup).read()
    assert not backup.endswith(".conf")  # systemd must not load the backup
    assert not run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED}).result["changed"]


def test_fail_mode_names_every_conflict_and_writes_nothing(run_module, tree, tmp_path):
    envfile = tmp_path / "default-ollama"
    envfile.write_text("OLLAMA_ORIGINS=*\n")
    (tree["dropin_dir"] / "90-site.conf").write_text("[Service]\nEnvironmentFile=-%s\n" % envfile)
    (tree["dropin_dir"] / "override.conf").write_text("[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0\n")
    result = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED, "conflicts": "fail"})
    assert result.kind == "fail"
    assert "%s:1 sets OLLAMA_ORIGINS=*" % envfile in result.result["msg"]
    assert "override.conf:2 sets OLLAMA_HOST=0.0.0.0" in result.result["msg"]
    assert not (tree["dropin_dir"] / "50-llmsec-hardening.conf").exists()
    assert envfile.read_text() == "OLLAMA_ORIGINS=*\n"


def test_report_mode_leaves_conflicts_and_says_what_wins(run_module, tree):
    (tree["dropin_dir"] / "override.conf").write_text("[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0\n")
    result = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED, "conflicts": "report"})
    assert result.kind == "exit"
    assert result.result["effective"]["OLLAMA_HOST"] == "0.0.0.0"  # override.conf sorts after 50-...
    assert "OLLAMA_HOST=0.0.0.0" in (tree["dropin_dir"] / "override.conf").read_text()


def test_symlinked_conflict_is_never_edited(run_module, tree, tmp_path):
    target = tmp_path / "shared.conf"
    target.write_text("[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0\n")
    os.symlink(target, tree["dropin_dir"] / "override.conf")
    result = run_module(systemd_environment.main, {"unit": "ollama", "environment": WANTED})
    assert result.kind == "fail" and "symlinked" in result.result["msg"]
    assert target.read_text() == "[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0\n"


def test_missing_unit_is_named(run_module, tree):
    tree["state"]["LoadState"] = "not-found"
    result = run_module(systemd_environment.main, {"unit": "nollama", "environment": WANTED})
    assert result.kind == "fail"
    assert "nollama.service is not installed (LoadState=not-found)" in result.result["msg"]


@pytest.mark.parametrize("args, message", [
    ({"unit": "../etc/passwd", "environment": WANTED}, "not a plain systemd unit name"),
    ({"unit": "ollama", "environment": {"BAD-NAME": "x"}}, "not a valid variable name"),
    ({"unit": "ollama", "environment": {"A": "x\ny"}}, "newline"),
    ({"unit": "ollama", "environment": WANTED, "dropin": "../../evil.conf"}, "plain file name"),
    ({"unit": "ollama", "environment": WANTED, "dropin": "x.txt"}, "ending in .conf"),
])
def test_bad_input(run_module, tree, args, message):
    result = run_module(systemd_environment.main, args)
    assert result.kind == "fail" and message in result.result["msg"]
    assert list(tree["dropin_dir"].iterdir()) == []
