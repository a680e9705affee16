"""Run a module's main() in-process and catch what it returns or fails with."""

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class ModuleExit(Exception):
    """Raised instead of exit_json/fail_json; kind is 'exit' or 'fail'."""

    def __init__(self, kind, result):
        super().__init__(result.get("msg"))
        self.kind, self.result = kind, result


def _exit_json(self, **result):
    raise ModuleExit("exit", result)


def _fail_json(self, **result):
    raise ModuleExit("fail", result)


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, check=False, diff=False) -> ModuleExit."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def run(main, args, check=False, diff=False):
        args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
        with patch_module_args(args):
            with pytest.raises(ModuleExit) as caught:
                main()
        return caught.value
    return run
