"""Every scenario's systemd hosts are the host of molecule/shared/systemd_host.yml.

Each molecule.yml writes that definition once, as the YAML anchor its hosts merge;
a host may name its own capabilities (systemd's SYS_ADMIN always among them) or take
the Debian 13 image, nothing else.
"""

import glob
import os
import sys

import pytest
import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import systemd_host  # noqa: E402  pylint: disable=wrong-import-position

SHARED = systemd_host.definition()
SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "molecule", "*", "molecule.yml")))


def systemd_platforms(path):
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    return [p for p in config.get("platforms", []) if p.get("command") == SHARED["command"]]


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_scenario_hosts_are_the_shared_host(path):
    for platform in systemd_platforms(path):
        for key, value in SHARED.items():
            if key == "capabilities":
                assert "SYS_ADMIN" in platform[key] and "ALL" not in platform[key], (platform["name"], key)
            elif key == "image":
                assert platform[key] in ("llmsec/debian12:latest", "llmsec/debian13:latest"), platform["name"]
            else:
                assert platform.get(key) == value, (platform["name"], key)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_the_definition_is_written_once_per_scenario(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert text.count("command: " + SHARED["command"]) <= 1
    if systemd_platforms(path):
        assert text.count("&systemd_host") == 1
        assert text.count("<<: ") == len(systemd_platforms(path))


def test_demo_and_bench_hosts_use_the_definition():
    args = systemd_host.docker_run_args(["SYS_PTRACE"])
    assert args[-2:] == [SHARED["image"], SHARED["command"]]
    assert args.count("--cap-add") == len(SHARED["capabilities"]) + 1
    assert "--privileged" not in args
    for script in ("tests/demo/demo.sh", "tests/bench/fleet/run.py"):
        with open(os.path.join(ROOT, script), encoding="utf-8") as handle:
            text = handle.read()
        assert "systemd_host" in text and "--cap-add" not in text, script


@pytest.mark.parametrize("path", [p for p in SCENARIOS if "encrypted_model_volume" not in p],
                         ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_molecule_create_applies_every_key_of_every_platform(path):
    """molecule/shared/create.yml starts the hosts with platform_args: a key it would not apply fails here,
    not as a host that silently lacks it."""
    with open(path, encoding="utf-8") as handle:
        for platform in yaml.safe_load(handle)["platforms"]:
            args = systemd_host.platform_args(platform)
            for key, flag in (("capabilities", "--cap-add"), ("tmpfs", "--tmpfs"), ("volumes", "-v"),
                              ("sysctls", "--sysctl"), ("security_opts", "--security-opt")):
                assert args.count(flag) == len(platform.get(key, [])), (platform["name"], key)


def test_a_platform_key_create_does_not_apply_is_refused():
    with pytest.raises(ValueError, match="zz: keys this harness does not apply: privileged"):
        systemd_host.platform_args({"name": "zz", "image": "x", "privileged": True})
    assert systemd_host.platform_args({"name": "zz", "image": "x", "sysctls": {"a.b": "0"}}) == [
        "--sysctl", "a.b=0", "x", "bash", "-c", "while true; do sleep 10000; done"]
