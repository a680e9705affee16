"""container_hardening's checks: each broken rule gives one message naming its variable."""

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import container

DIGEST = "ollama/ollama@sha256:" + "a" * 64
GOOD = {"image": DIGEST, "allow_floating_tag": False, "user": "1000:1000", "bind_address": "127.0.0.1",
        "host_port": 11434, "container_port": 11434, "models_dir": "/srv/ollama/models", "models_mount": "/models",
        "home": "/home/ollama", "seccomp_dir": "/etc/llmsec/seccomp", "apparmor_dir": "/etc/apparmor.d", "env": {"OLLAMA_ORIGINS": "https://a.example"},
        "pids_limit": 256, "nofile": 65536, "memory": "16g", "cpus": "auto", "cpu_shares": 512, "home_size": "64m", "tmp_size": "256m",
        "healthcheck": ["CMD", "ollama", "list"]}


def test_sound_settings_pass():
    assert container.settings_errors(GOOD) == []
    assert container.settings_errors(dict(GOOD, cpus=1.5, cpu_shares=0)) == []
    assert container.settings_errors(dict(GOOD, cpus="0", cpu_shares=2)) == []
    assert container.settings_errors(dict(GOOD, image="ollama/ollama:0.20.0", allow_floating_tag=True)) == []


@pytest.mark.parametrize("change, message", [
    ({"image": "ollama/ollama:0.20.0"}, "container_hardening_image must be pinned by digest"),
    ({"image": "ollama/ollama:latest", "allow_floating_tag": True}, "container_hardening_image must be pinned"),
    ({"image": "ollama/ollama", "allow_floating_tag": True}, "container_hardening_image must be pinned"),
    ({"image": ""}, "container_hardening_image must be pinned"),
    ({"user": "0:0"}, "container_hardening_user must be a numeric uid:gid other than root"),
    ({"user": "1000:00"}, "container_hardening_user must be a numeric uid:gid other than root"),
    ({"user": "ollama"}, "container_hardening_user must be a numeric uid:gid"),
    ({"bind_address": "0.0.0.0"}, "container_hardening_bind_address must be 127.0.0.1 or ::1"),
    ({"host_port": 0}, "container_hardening_host_port must be a port"),
    ({"models_dir": "models"}, "container_hardening_models_dir must be an absolute path"),
    ({"models_dir": "/run/docker.sock"}, "container_hardening_models_dir cannot be / or the Docker socket"),
    ({"env": {"OLLAMA_ORIGINS": "*"}}, "container_hardening_env cannot set"),
    ({"env": {"HOME": "/root"}}, "container_hardening_env cannot set"),
    ({"pids_limit": 0}, "container_hardening_pids_limit must be a positive integer"),
    ({"memory": "lots"}, "container_hardening_memory must be a size"),
    ({"cpus": -1}, "container_hardening_cpus must be auto, a number of CPUs, or 0"),
    ({"cpus": "half"}, "container_hardening_cpus must be auto"),
    ({"cpu_shares": 1}, "container_hardening_cpu_shares must be 0 (Docker's default) or from 2 to 262144"),
    ({"cpu_shares": 262145}, "container_hardening_cpu_shares must be 0"),
    ({"apparmor_dir": "apparmor.d"}, "container_hardening_apparmor_dir must be an absolute path"),
    ({"tmp_size": "1 GB"}, "container_hardening_tmp_size must be a size"),
    ({"healthcheck": []}, "container_hardening_healthcheck must be a command list"),
])
def test_each_broken_rule_names_its_variable(change, message):
    errors = container.settings_errors(dict(GOOD, **change))
    assert len(errors) == 1 and errors[0].startswith(message), errors


def test_latest_is_refused_whatever_the_switch_says():
    assert "bare or :latest tag is always refused" in container.settings_errors(
        dict(GOOD, image="ollama/ollama:latest", allow_floating_tag=True))[0]
