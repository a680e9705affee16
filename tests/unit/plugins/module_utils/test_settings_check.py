import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import settings_check


@pytest.mark.parametrize("value, kind, expected", [
    (8, int, 8), ("8", int, 8), ("1.5", float, 1.5), (True, int, None), ("eight", int, None), (None, int, None),
])
def test_number(value, kind, expected):
    assert settings_check.number(value, kind) == expected


def test_refusals_name_the_variable():
    refusals = settings_check.Refusals("role_")
    refusals.check(True, "fine", "never said")
    refusals.check(False, "port", "must be a port")
    assert refusals.messages == ["role_port must be a port"]
