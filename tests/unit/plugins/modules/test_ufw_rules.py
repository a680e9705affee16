"""The ufw_rules module against a fake ufw that keeps its rules in a list."""

import shlex

import pytest
from ansible.module_utils import basic

from ansible_collections.llmsec.hardening.plugins.module_utils import firewall as fw
from ansible_collections.llmsec.hardening.plugins.modules import ufw_rules


class FakeUfw:
    def __init__(self, lines):
        self.rules = list(lines)
        self.calls = []
        # AnsibleModule.run_command is replaced by this bound method: the module comes first.
        fake = self

        def run_command(module, args, **kwargs):
            return fake.handle(args, **kwargs)
        self.run_command = run_command

    def handle(self, args, **kwargs):
        args = list(args[1:])
        self.calls.append(args)
        if args == ["show", "added"]:
            return 0, "Added user rules (see 'ufw status' for running firewall):\n" + "".join(
                "ufw %s\n" % line for line in self.rules), ""
        if args[0] == "delete":
            spec = " ".join(shlex.quote(a) for a in args[1:])
            match = [line for line in self.rules if line.split(" comment ")[0] == spec]
            if not match:
                return 1, "", "Could not delete non-existent rule"
            self.rules.remove(match[0])
            return 0, "Rule deleted", ""
        if args[0] == "insert":
            self.rules.insert(int(args[1]) - 1, " ".join(shlex.quote(a) for a in args[2:]))
            return 0, "Rule inserted", ""
        self.rules.append(" ".join(shlex.quote(a) for a in args))
        return 0, "Rule added", ""


@pytest.fixture
def fake(monkeypatch):
    state = FakeUfw([])
    monkeypatch.setattr(basic.AnsibleModule, "run_command", state.run_command)
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **kw: "/usr/sbin/ufw")
    return state


def rules(**changes):
    config = {"backend": "ufw", "ssh_ports": [22], "ssh_sources": ["any"], "ssh_rate_limit": True,
              "allowed_ports": [443], "docker_allowed_ports": [], "ollama_port": 11434, "ollama_deny": True,
              "ipv6": True, "logging": "low"}
    config.update(changes)
    return fw.build_rules(config)["rules"]


def test_adds_then_idempotent(run_module, fake):
    first = run_module(ufw_rules.main, {"rules": rules()})
    assert first.result["changed"] and len(first.result["added"]) == 3
    assert all("comment llmsec:" in line for line in fake.rules)
    second = run_module(ufw_rules.main, {"rules": rules()})
    assert not second.result["changed"] and len(second.result["kept"]) == 3


def test_deny_goes_first_when_rules_exist(run_module, fake):
    fake.rules = ["allow 11434/tcp"]
    run_module(ufw_rules.main, {"rules": rules()})
    assert fake.rules[0].startswith("deny from any to any port 11434")


def test_removed_rule_is_deleted_foreign_rule_kept(run_module, fake):
    run_module(ufw_rules.main, {"rules": rules(allowed_ports=[443, 9999])})
    fake.rules.append("allow 7777/tcp")
    result = run_module(ufw_rules.main, {"rules": rules()})
    assert [line for line in result.result["deleted"] if "9999" in line]
    assert not [line for line in fake.rules if "9999" in line]
    assert "allow 7777/tcp" in fake.rules
    purge = run_module(ufw_rules.main, {"rules": rules(), "purge_unmanaged": True})
    assert "allow 7777/tcp" not in fake.rules and purge.result["changed"]


def test_check_mode_runs_no_ufw_command_that_changes(run_module, fake):
    fake.rules = ["allow 7777/tcp comment 'llmsec:gone:00000000'"]
    result = run_module(ufw_rules.main, {"rules": rules()}, check=True, diff=True)
    assert result.result["changed"] and result.result["deleted"] and len(result.result["added"]) == 3
    assert fake.calls == [["show", "added"]]
    assert "diff" in result.result


def test_foreign_rule_list_is_refused(run_module, fake):
    result = run_module(ufw_rules.main, {"rules": [{"port": 22}]})
    assert result.kind == "fail" and "firewall_rules filter" in result.result["msg"]
    assert fake.calls == []
