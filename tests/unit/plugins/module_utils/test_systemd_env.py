import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_env as se

OVERRIDE = """[Service]
Environment="OLLAMA_HOST=0.0.0.0" "OLLAMA_DEBUG=1"
Environment=OLLAMA_KEEP_ALIVE=10m
"""


def test_unit_file_name():
    assert se.unit_file_name("ollama") == "ollama.service"
    assert se.unit_file_name("ollama.service") == "ollama.service"
    for bad in ("", "../x", "a/b", ".hidden", None):
        with pytest.raises(se.UnitEnvError):
            se.unit_file_name(bad)


@pytest.mark.parametrize("env", [{}, {"1BAD": "x"}, {"A-B": "x"}, {"A": 1}, {"A": "x\ny"}, {"A": "x\0"}, "A=1"])
def test_validate_environment_refuses(env):
    with pytest.raises(se.UnitEnvError):
        se.validate_environment(env)


def test_render_dropin_quotes_and_escapes_specifiers():
    text = se.render_dropin({"OLLAMA_ORIGINS": 'https://a,"b"%', "OLLAMA_HOST": "127.0.0.1:11434"}, "test")
    lines = text.splitlines()
    assert lines[1] == "[Service]"
    # sorted keys, quotes escaped, % doubled (systemd specifier)
    assert lines[2] == 'Environment="OLLAMA_HOST=127.0.0.1:11434"'
    assert lines[3] == 'Environment="OLLAMA_ORIGINS=https://a,\\"b\\"%%"'
    # and it parses back to the same values
    found = se.scan_unit_text("x", text)
    assert dict(a for e in found for a in e["assignments"]) == {
        "OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_ORIGINS": 'https://a,"b"%'}


def test_scan_unit_text_sections_comments_continuations():
    text = """[Unit]
Environment=OLLAMA_HOST=ignored-not-service
[Service]
# Environment=OLLAMA_HOST=commented
; Environment=OLLAMA_HOST=commented
Environment="A=1" \\
  "OLLAMA_HOST=10.0.0.1"
EnvironmentFile=-/etc/default/ollama
[Install]
WantedBy=default.target
"""
    found = se.scan_unit_text("/u", text)
    assert [e["directive"] for e in found] == ["Environment", "EnvironmentFile"]
    assert found[0]["assignments"] == [("A", "1"), ("OLLAMA_HOST", "10.0.0.1")]
    assert (found[0]["line"], found[0]["end_line"]) == (6, 7)
    assert se.env_file_path(found[1]["value"]) == ("/etc/default/ollama", True)


def test_scan_env_file_text():
    text = "# comment\nOLLAMA_HOST=0.0.0.0\nexport OLLAMA_ORIGINS='https://x'\nnot an assignment\n1X=2\n"
    found = se.scan_env_file_text("/e", text)
    assert [(e["line"], e["assignments"]) for e in found] == [
        (2, [("OLLAMA_HOST", "0.0.0.0")]), (3, [("OLLAMA_ORIGINS", "https://x")])]


def test_conflicts_and_effective_order():
    own = "/etc/systemd/system/ollama.service.d/50-llmsec.conf"
    wanted = {"OLLAMA_HOST": "127.0.0.1:11434", "OLLAMA_ORIGINS": ""}
    units = (se.scan_unit_text("/frag", "[Service]\nEnvironment=OLLAMA_HOST=1.2.3.4\n")
             + se.scan_unit_text(own, se.render_dropin(wanted, "t"))
             + se.scan_unit_text("/d/override.conf", OVERRIDE))
    files = se.scan_env_file_text("/etc/default/ollama", "OLLAMA_ORIGINS=*\n")
    keys = set(wanted)
    # later drop-in wins over ours, and an EnvironmentFile wins over every drop-in
    assert se.effective_values(units, files, keys) == {"OLLAMA_HOST": "0.0.0.0", "OLLAMA_ORIGINS": "*"}
    hits = se.find_assignments(units + files, keys)
    conflicts = se.conflicts_for(hits, wanted, own)
    assert sorted((c["path"], c["key"], c["value"]) for c in conflicts) == [
        ("/d/override.conf", "OLLAMA_HOST", "0.0.0.0"),
        ("/etc/default/ollama", "OLLAMA_ORIGINS", "*"),
        ("/frag", "OLLAMA_HOST", "1.2.3.4"),
    ]


def test_equal_value_elsewhere_is_no_conflict():
    hits = se.find_assignments(se.scan_unit_text("/o", "[Service]\nEnvironment=OLLAMA_HOST=127.0.0.1:11434\n"),
                               {"OLLAMA_HOST"})
    assert se.conflicts_for(hits, {"OLLAMA_HOST": "127.0.0.1:11434"}, "/own") == []


def test_bare_environment_resets():
    units = se.scan_unit_text("/a", "[Service]\nEnvironment=OLLAMA_HOST=0.0.0.0\nEnvironment=\n")
    assert se.effective_values(units, [], {"OLLAMA_HOST"}) == {}


def test_remove_assignments_keeps_other_settings():
    found = se.scan_unit_text("/d/override.conf", OVERRIDE)
    conflicts = se.find_assignments(found, {"OLLAMA_HOST"})
    fixed = se.remove_assignments(OVERRIDE, conflicts, "unit")
    refound = se.scan_unit_text("/d/override.conf", fixed)
    values = dict(a for e in refound for a in e["assignments"])
    assert values == {"OLLAMA_DEBUG": "1", "OLLAMA_KEEP_ALIVE": "10m"}
    assert "# llmsec.hardening: disabled OLLAMA_HOST" in fixed
    assert '# Environment="OLLAMA_HOST=0.0.0.0" "OLLAMA_DEBUG=1"' in fixed
    # idempotent: nothing left to remove
    assert se.find_assignments(refound, {"OLLAMA_HOST"}) == []


def test_remove_assignments_continuation_and_env_file():
    text = '[Service]\nEnvironment="OLLAMA_HOST=0.0.0.0" \\\n  "B=2"\nExecStart=/x\n'
    conflicts = se.find_assignments(se.scan_unit_text("/u", text), {"OLLAMA_HOST"})
    fixed = se.remove_assignments(text, conflicts, "unit")
    assert "ExecStart=/x" in fixed
    assert dict(a for e in se.scan_unit_text("/u", fixed) for a in e["assignments"]) == {"B": "2"}

    env = "A=1\nOLLAMA_HOST=0.0.0.0\nB=2\n"
    hits = se.find_assignments(se.scan_env_file_text("/e", env), {"OLLAMA_HOST"})
    fixed = se.remove_assignments(env, hits, "envfile")
    assert [e["assignments"] for e in se.scan_env_file_text("/e", fixed)] == [[("A", "1")], [("B", "2")]]


def test_dropin_candidates_priority_and_order(tmp_path):
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    for base, names in ((etc, ["override.conf", "10-a.conf"]), (usr, ["10-a.conf", "05-vendor.conf", "x.txt"])):
        d = base / "ollama.service.d"
        d.mkdir(parents=True)
        for name in names:
            (d / name).write_text("[Service]\n")
    found = se.dropin_candidates("ollama.service", unit_dirs=(str(etc), str(usr), str(tmp_path / "missing")))
    assert found == [str(usr / "ollama.service.d" / "05-vendor.conf"),
                     str(etc / "ollama.service.d" / "10-a.conf"),
                     str(etc / "ollama.service.d" / "override.conf")]


def test_split_words_tolerates_bad_quotes():
    assert se.split_words('"A=1') == ['"A=1']


def test_parse_environment_reads_systemctl_show_quoting():
    shown = 'PATH=/usr/bin "OLLAMA_HOST=[::1]:11434" OLLAMA_ORIGINS= "C=x y" A=1 A=2'
    assert se.parse_environment(shown) == {
        "PATH": "/usr/bin", "OLLAMA_HOST": "[::1]:11434", "OLLAMA_ORIGINS": "", "C": "x y", "A": "2"}
    assert se.parse_environment("") == {}
