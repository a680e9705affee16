"""container_hardening's AppArmor profile in a kernel that enforces it.

The test hosts' kernel has no AppArmor, so this runs in the one VM the suite boots (Debian's kernel, where
AppArmor is on by default), beside the encrypted volume's tests. The module generates the profile the role
generates, with the VM's paths for the model store; systemd's AppArmorProfile= and aa-exec put a process
under it the way runc does for `docker run --security-opt apparmor=NAME` (change_onexec). Docker itself does
not run in the VM: the container's own application of the profile is not exercised here (role README).
"""

import json
import os

import pytest

from scenario_helpers import STANDIN, module_runs, serve_standin
from scenario_helpers import standin_api as api

VM = "llmsec-luks-vm"
HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = "/srv/aa-models"
PROFILE = "/etc/apparmor.d/llmsec-ollama"
MODULE = "llmsec.hardening.apparmor_profile"

testinfra_hosts = ["ansible://" + VM]


def profile_args(**extra):
    # As the role builds it, with the VM's store, and the stand-in's interpreter (its entry point is a script).
    return dict({"name": "llmsec-ollama", "exec": ["/usr/bin/ollama", "/usr/bin/python3*"], "models": MODELS,
                 "state": ["/home/ollama", "/tmp"], "dest": PROFILE}, **extra)


@pytest.fixture(scope="module")
def loaded(host):
    """In one Ansible start: the stand-in at Ollama's path and the probe copied, the role's profile loaded, the
    same run again, and its maintenance variant under a second name."""
    results = module_runs(host, [
        ("ansible.builtin.copy", {"src": os.path.abspath(STANDIN), "dest": "/usr/bin/ollama", "mode": "0755"}),
        ("ansible.builtin.copy", {"src": os.path.join(HERE, "aa_probe.py"), "dest": "/tmp/aa_probe.py",
                                  "mode": "0644"}),
        (MODULE, profile_args()), (MODULE, profile_args()),
        (MODULE, profile_args(name="llmsec-ollama-maintenance", models_writable=True,
                              dest=PROFILE + "-maintenance"))])
    return dict(zip(("first", "again", "maintenance"), results[2:]))


@pytest.fixture(scope="module")
def standin(host, loaded):
    """A model pulled into a store owned by ollama, by the stand-in unconfined (the seeding)."""
    host.check_output("install -d -o ollama -g ollama -m 0755 /home/ollama %s" % MODELS)
    serve_standin(host, "llmsec-aa-seed", 11500, MODELS, "/home/ollama")
    assert '"success"' in api(host, 11500, "/api/pull", {"model": "tiny:1b", "stream": False}).stdout
    host.check_output("systemctl stop llmsec-aa-seed")
    return host


def test_profile_loaded_in_enforce_mode_and_idempotent(host, loaded):
    assert loaded["first"]["active"] is True and loaded["first"]["loaded"] is True, loaded["first"]
    assert loaded["again"]["changed"] is False and loaded["again"]["loaded"] is True
    profiles = host.file("/sys/kernel/security/apparmor/profiles").content_string
    assert "llmsec-ollama (enforce)" in profiles and "llmsec-ollama-maintenance (enforce)" in profiles


def test_the_server_runs_and_answers_under_the_profile(standin):
    host = standin
    try:
        serve_standin(host, "llmsec-aa-ollama", 11501, MODELS, "/home/ollama", "-p AppArmorProfile=llmsec-ollama")
        pid = host.check_output("systemctl show -p MainPID --value llmsec-aa-ollama")
        assert host.file("/proc/%s/attr/current" % pid).content_string.strip() == "llmsec-ollama (enforce)"
        # Inference: the runner is exec'd (in the profile) and maps the weights read-only.
        out = api(host, 11501, "/api/generate", {"model": "tiny:1b", "prompt": "hi", "stream": False})
        assert out.rc == 0 and json.loads(out.stdout)["done"] is True, out.stderr
        # A pull needs to write the store: AppArmor refuses it although the store belongs to ollama.
        out = api(host, 11501, "/api/pull", {"model": "small:2b", "stream": False})
        assert out.rc != 0 or '"success"' not in out.stdout
        assert not host.run("ls %s/manifests/registry.ollama.ai/library/small" % MODELS).rc == 0
    finally:
        host.run("systemctl stop llmsec-aa-ollama")


def test_root_under_the_profile_is_denied_what_a_breakout_needs(standin):
    """The same probe as root, unconfined (the control: every attempt works) and under the profile. Writing the
    store as the server's own user is refused by the profile alone: the pull test above."""
    host = standin
    run = "PROBE_MODELS=%s %%s python3 /tmp/aa_probe.py" % MODELS
    control = json.loads(host.check_output(run % ""))
    assert set(control.values()) == {"OK"}, control
    confined = json.loads(host.check_output(run % "aa-exec -p llmsec-ollama --"))
    # Root keeps uid 0 and loses what it is for: no capability (dac_override, chown) is in the profile.
    assert confined == {"write_state": "OK", "dac_override": "EACCES", "read_models": "OK", "write_models": "EACCES",
                        "write_outside_state": "EACCES", "write_proc_sys": "EACCES", "mount": "EACCES",
                        "raw_socket": "EACCES", "exec_shell": "EACCES", "ptrace": "EACCES",
                        "chown": "EPERM"}, confined


def test_maintenance_profile_lets_a_pull_through(standin, loaded):
    host = standin
    assert "%s/** rwkl," % MODELS in loaded["maintenance"]["profile"]
    try:
        serve_standin(host, "llmsec-aa-maint", 11502, MODELS, "/home/ollama",
                      "-p AppArmorProfile=llmsec-ollama-maintenance")
        assert '"success"' in api(host, 11502, "/api/pull", {"model": "small:2b", "stream": False}).stdout
    finally:
        host.run("systemctl stop llmsec-aa-maint")
