"""The change window file: who may open it, until when, and the model_change playbook's checks."""

import json
import os

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import change_window as cw

NOW = 1_800_000_000
TOKEN = {"bearer": "eyJ.x.y"}


@pytest.fixture
def owner(monkeypatch):
    """Whoever runs the tests stands in for root, the only owner that opens a window."""
    monkeypatch.setattr(cw, "OWNER_UID", os.geteuid())


def write(tmp_path, text, mode=0o644):
    path = tmp_path / "change-window.json"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_render_and_state_open_then_expired(tmp_path, owner):
    path = write(tmp_path, cw.render("CHG-1", "alice", 30, now=NOW))
    state = cw.state(path, now=NOW + 60)
    assert state["open"] and not state["expired"] and state["error"] is None
    assert (state["change"], state["opened_by"], state["until"]) == ("CHG-1", "alice", NOW + 1800)
    state = cw.state(path, now=NOW + 1800)
    assert state["present"] and state["expired"] and not state["open"]


def test_absent_file_is_closed(tmp_path):
    assert cw.state(str(tmp_path / "none"), now=NOW) == {
        "path": str(tmp_path / "none"), "present": False, "open": False, "expired": False, "error": None}


@pytest.mark.parametrize("text,mode,error", [
    (None, 0o664, "writable by others than root"),
    (None, 0o646, "writable by others than root"),
    ("{not json", 0o644, "not JSON"),
    ('{"change": "x"}', 0o644, "needs change, opened_by, opened, until"),
    ('{"change": "x", "opened_by": "a", "opened": 1, "until": "soon"}', 0o644, "until must be a Unix time"),
])
def test_a_file_that_opens_nothing(tmp_path, owner, text, mode, error):
    path = write(tmp_path, text if text is not None else cw.render("CHG-1", "alice", 30, now=NOW), mode)
    state = cw.state(path, now=NOW + 1)
    assert state["present"] and not state["open"] and error in state["error"]


def test_a_file_someone_else_owns_opens_nothing(tmp_path, monkeypatch):
    path = write(tmp_path, cw.render("CHG-1", "alice", 30, now=NOW))
    monkeypatch.setattr(cw, "OWNER_UID", os.geteuid() + 1)
    state = cw.state(path, now=NOW + 1)
    assert not state["open"] and "not root" in state["error"]


def test_a_symlink_opens_nothing(tmp_path, owner):
    target = write(tmp_path, cw.render("CHG-1", "alice", 30, now=NOW))
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert "not a regular file" in cw.state(str(link), now=NOW + 1)["error"]


def test_the_watcher_follows_the_file(tmp_path, owner):
    path = tmp_path / "change-window.json"
    watcher = cw.Watcher(str(path))
    assert not watcher.is_open(now=NOW)
    path.write_text(cw.render("CHG-1", "alice", 1, now=NOW))
    path.chmod(0o644)
    assert watcher.is_open(now=NOW + 1)
    assert not watcher.is_open(now=NOW + 60)  # the deadline, without the file changing
    path.write_text(cw.render("CHG-2", "alice", 5, now=NOW + 60))
    assert watcher.is_open(now=NOW + 61)
    path.unlink()
    assert not watcher.is_open(now=NOW + 62)


@pytest.mark.parametrize("minutes", [0, -1, 1441, "60", True, 1.5])
def test_render_refuses_bad_minutes(minutes):
    with pytest.raises(cw.WindowError, match="llmsec_model_change_minutes"):
        cw.render("CHG-1", "alice", minutes)


GOOD = {"change": "CHG-1", "stage": "apply", "pull": ["tiny:1b"], "delete": [], "minutes": 60,
        "credentials": TOKEN, "registries": ["registry.ollama.ai"], "hosts": 2, "lock": None}
LOCK = "# header\n" + json.dumps({"models": {"tiny:1b": {"manifest": "sha256:aa", "layers": []},
                                             "old:1b": {"manifest": "sha256:bb", "layers": []}}})


def test_sound_settings_pass():
    assert cw.settings_errors(GOOD) == []
    assert cw.settings_errors(dict(GOOD, stage="propose", hosts=1)) == []
    lock = "# header\n" + json.dumps({"models": {"llama3.2:latest": {"manifest": "sha256:aa", "layers": []}}})
    assert cw.settings_errors(dict(GOOD, pull=["llama3.2"], delete=["old:1b"], lock=lock,
                                   credentials={"user": "ops", "password": "pw"})) == []


@pytest.mark.parametrize("changes,message", [
    ({"change": ""}, "llmsec_model_change_id must be a one-line text"),
    ({"change": "a\nb"}, "llmsec_model_change_id must be a one-line text"),
    ({"minutes": 0}, "llmsec_model_change_minutes must be a whole number"),
    ({"stage": "yolo"}, "llmsec_model_change_stage must be one of propose, apply"),
    ({"pull": "tiny:1b"}, "llmsec_model_change_pull must be a list"),
    ({"pull": ["../etc"]}, "llmsec_model_change_pull[0] is not a model name"),
    ({"pull": ["evil.example.com/x/y:1"]}, "llmsec_model_change_pull[0] (evil.example.com/x/y:1) is from "
                                           "evil.example.com, which auth_gateway_pull_registries does not allow"),
    ({"pull": []}, "llmsec_model_change_pull and llmsec_model_change_delete are both empty"),
    ({"delete": ["tiny:1b"]}, "llmsec_model_change_pull and llmsec_model_change_delete both name tiny:1b"),
    ({"stage": "propose", "hosts": 3}, "propose runs on one reference host; the play has 3"),
    ({"stage": "propose", "hosts": 1, "delete": ["old:1b"]}, "llmsec_model_change_delete is for the apply stage"),
    ({"credentials": {}}, "llmsec_model_change_credentials must be one of"),
    ({"credentials": {"bearer": "t", "user": "u", "password": "p"}}, "llmsec_model_change_credentials must be"),
    ({"credentials": {"user": "u"}}, "llmsec_model_change_credentials must be one of"),
    ({"credentials": "token"}, "llmsec_model_change_credentials must be one of"),
    ({"lock": LOCK, "pull": ["new:1b"]}, "llmsec_model_change_pull: new:1b is not in the lock"),
    ({"lock": LOCK, "delete": ["old:1b"]}, "llmsec_model_change_delete: old:1b is still in the lock"),
    ({"lock": "models: [", "pull": ["tiny:1b"]}, "the lock the change must match does not parse"),
])
def test_bad_settings_name_their_variable(changes, message):
    errors = cw.settings_errors(dict(GOOD, **changes))
    assert any(message in error for error in errors), errors


def test_request_failures():
    results = [{"item": "a:1", "status": 200, "json": {"status": "success"}},
               {"item": "b:1", "status": 403, "json": {"error": "closed"}},
               {"item": "c:1", "status": 200, "json": {"error": "open x: read-only file system"}},
               {"item": "d:1", "status": -1, "msg": "Connection refused"},
               {"item": "e:1", "skipped": True}]
    assert cw.request_failures(results) == ["b:1: HTTP 403: closed",
                                            "c:1: HTTP 200: open x: read-only file system",
                                            "d:1: HTTP -1: Connection refused"]
