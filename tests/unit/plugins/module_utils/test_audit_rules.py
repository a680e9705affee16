"""The ai_activity_audit rules: what they audit, what they leave quiet, and the checks before they change."""

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import audit_rules as ar

STORE = "/usr/share/ollama/.ollama/models"
GOOD = {"stores": [STORE], "server_users": ["ollama"],
        "watch_paths": ["/usr/local/bin/ollama", "/etc/systemd/system/ollama.service.d"],
        "exec_allow": ["/usr/local/bin/ollama"], "connect": True, "arches": ["b64", "b32"], "backlog": 8192,
        "rate": 1000}


def test_sound_settings_pass():
    assert ar.settings_errors(GOOD) == []


def test_render_keys_every_rule_and_never_flushes():
    text = ar.render(GOOD, {"ollama": 998})
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert not any(line.startswith(("-D", "-e")) for line in rules)
    assert rules[:4] == ["-b 8192", "--backlog_wait_time 0", "-r 1000", "-f 1"]
    for line in rules[4:]:  # every rule can be removed by its key, without touching anyone else's
        assert any(line.endswith(("key=%s" % key, "-k %s" % key)) for key in ar.OWN_KEYS), line
    assert ("-a always,exit -F arch=b64 -F dir=%s -F perm=r -F uid!=998 -F key=llmsec_model_read" % STORE) in rules
    assert ("-a always,exit -F arch=b32 -F dir=%s -F perm=wa -F key=llmsec_model_write" % STORE) in rules
    assert "-w /etc/systemd/system/ollama.service.d -p wa -k llmsec_ai_config" in rules


def test_the_servers_own_helpers_are_excepted_before_the_exec_rule():
    rules = ar.render(GOOD, {"ollama": 998}).splitlines()
    never = rules.index("-a never,exit -F arch=b64 -S execve,execveat -F uid=998 -F exe=/usr/local/bin/ollama "
                        "-F key=llmsec_ai_exec_allow")
    always = rules.index("-a always,exit -F arch=b64 -S execve,execveat -F uid=998 -F key=llmsec_ai_exec")
    assert never < always


def test_root_services_reading_with_the_interpreter_are_quiet_before_the_read_rule():
    """The integrity timer (root, started by systemd: no login uid, the host's Python) reads every blob on
    schedule; root logged in, and every other user, stays audited."""
    rules = ar.render(dict(GOOD, quiet_readers=["/usr/bin/python3.11"]), {"ollama": 998}).splitlines()
    never = rules.index("-a never,exit -F arch=b64 -F dir=%s -F perm=r -F uid=0 -F auid=4294967295 "
                        "-F exe=/usr/bin/python3.11 -F key=llmsec_model_read_allow" % STORE)
    always = rules.index("-a always,exit -F arch=b64 -F dir=%s -F perm=r -F uid!=998 -F key=llmsec_model_read"
                         % STORE)
    assert never < always
    assert "llmsec_model_read_allow" not in ar.render(GOOD, {"ollama": 998})
    assert any("quiet_root_services" in error for error in ar.settings_errors(dict(GOOD, quiet_readers=["py"])))


def test_connect_rules_are_optional():
    text = ar.render(dict(GOOD, connect=False), {"ollama": 998})
    assert "llmsec_ai_connect" not in text


@pytest.mark.parametrize("changes,message", [
    ({"stores": ["/"]}, "ai_activity_audit_stores[0] is /: auditing every read there would audit the whole system"),
    ({"stores": ["/usr/"]}, "ai_activity_audit_stores[0] is /usr/"),
    ({"stores": ["models"]}, "ai_activity_audit_stores[0] must be an absolute, normalised path"),
    ({"stores": ["/srv/a b"]}, "ai_activity_audit_stores[0] must be an absolute, normalised path"),
    ({"stores": ["/srv/../etc"]}, "ai_activity_audit_stores[0] must be an absolute, normalised path"),
    ({"stores": []}, "ai_activity_audit_stores is empty"),
    ({"server_users": []}, "ai_activity_audit_server_users must list the AI servers' users"),
    ({"server_users": ["root"]}, "ai_activity_audit_server_users[0] is root"),
    ({"server_users": ["bad user"]}, "ai_activity_audit_server_users[0] is not a user name"),
    ({"watch_paths": "/etc"}, "ai_activity_audit_watch_paths must be a list of absolute paths"),
    ({"exec_allow": ["ollama"]}, "ai_activity_audit_exec_allow[0] must be an absolute"),
    ({"connect": "yes"}, "ai_activity_audit_connect must be true or false"),
    ({"arches": ["b16"]}, "ai_activity_audit_arches must list some of b64, b32"),
    ({"backlog": 64}, "ai_activity_audit_backlog must be a number of events from 1024"),
    ({"rate": -1}, "ai_activity_audit_rate must be a number of events per second"),
])
def test_bad_settings_name_their_variable(changes, message):
    errors = ar.settings_errors(dict(GOOD, **changes))
    assert any(message in error for error in errors), errors


def test_the_role_removes_every_key_a_rule_of_ours_can_carry():
    """The role's handler deletes by key before loading: its list is module_utils' OWN_KEYS, the keys of rules
    the current settings leave out included."""
    import os

    import yaml

    role_vars = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "roles", "ai_activity_audit", "vars",
                             "main.yml")
    with open(role_vars, encoding="utf-8") as handle:
        assert tuple(yaml.safe_load(handle)["__ai_activity_audit_own_keys"]) == ar.OWN_KEYS


def test_missing_counts_rule_by_rule():
    text = ("-b 8192\n-a always,exit -F arch=b64 -F dir=/m -F perm=r -F key=llmsec_model_read\n"
            "-a always,exit -F arch=b32 -F dir=/m -F perm=r -F key=llmsec_model_read\n"
            "-w /etc/llmsec -p wa -k llmsec_ai_config\n")
    loaded = ("-a always,exit -F arch=b64 -S open,openat -F dir=/m -F perm=r -F key=llmsec_model_read\n"
              "-w /etc/llmsec -p wa -k llmsec_ai_config\n-w /etc/ssh -p wa -k llmsec_not_in_the_file\n")
    assert ar.missing(text, loaded) == ["llmsec_model_read"]
    assert ar.missing(text, "No rules") == ["llmsec_model_read", "llmsec_model_read", "llmsec_ai_config"]
    assert ar.missing(text, text) == []
