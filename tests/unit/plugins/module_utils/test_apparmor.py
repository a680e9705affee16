"""The AppArmor profile: what it grants and denies, input that could break out of a rule, and the host state.

Every profile built here is also compiled by the real apparmor_parser (Debian's apparmor package, installed by
`make setup`): a profile that reads well but does not parse fails here, not on a fleet."""

import shutil
import subprocess

import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import apparmor

CONTAINER = dict(models="/models", state=["/home/ollama", "/tmp"])


def rules(text):
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def compiles(text, tmp_path):
    path = tmp_path / "profile"
    path.write_text(text)
    parser = shutil.which("apparmor_parser")
    assert parser, "apparmor_parser is missing: make setup installs Debian's apparmor package"
    result = subprocess.run([parser, "-Q", "-K", "-T", str(path)], capture_output=True, text=True, check=False)
    return result.returncode == 0, result.stderr


@pytest.mark.parametrize("settings", [
    CONTAINER,
    dict(CONTAINER, models_writable=True),
    dict(CONTAINER, capabilities=["NET_BIND_SERVICE"], gpus=True, read=["/opt/extra", "/srv/*.gguf"]),
    dict(exec_paths=["/usr/bin/ollama", "/usr/bin/python3*"], state=["/var/lib/ollama/"]),
])
def test_every_variant_compiles(settings, tmp_path):
    ok, err = compiles(apparmor.build_profile("llmsec-ollama", **settings), tmp_path)
    assert ok, err


def test_the_parser_rejects_a_broken_profile(tmp_path):
    """The check above can fail."""
    text = apparmor.build_profile("llmsec-ollama", **CONTAINER).replace("deny mount,", "deny mount")
    assert not compiles(text, tmp_path)[0]


def test_models_read_only_state_writable_nothing_else():
    r = rules(apparmor.build_profile("llmsec-ollama", **CONTAINER))
    assert "/models/ r," in r and "/models/** r," in r
    assert "/home/ollama/** rwkl," in r and "/tmp/** rwkl," in r
    writable = [x for x in r if x.startswith("/") and "w" in x.rsplit(" ", 1)[1]]
    assert sorted(writable) == sorted(["/home/ollama/ rw,", "/home/ollama/** rwkl,", "/tmp/ rw,", "/tmp/** rwkl,",
                                       "/dev/null rw,", "/dev/full rw,"])
    executable = [x for x in r if x.endswith("ix,")]
    assert executable == ["%s mrix," % p for p in apparmor.DEFAULT_EXEC]


def test_maintenance_makes_models_writable():
    r = rules(apparmor.build_profile("llmsec-ollama", models_writable=True, **CONTAINER))
    assert "/models/** rwkl," in r and "/models/** r," not in r


def test_breakouts_denied_and_no_capability_by_default():
    r = rules(apparmor.build_profile("llmsec-ollama", **CONTAINER))
    for rule in ("deny mount,", "deny umount,", "deny pivot_root,", "deny ptrace,", "deny network inet raw,",
                 "deny network packet,", "deny /proc/sys/** wklx,", "deny /sys/** wklx,"):
        assert rule in r
    assert not [x for x in r if x.startswith("capability")]
    assert not [x for x in r if x in ("file,", "network,", "capability,") or x.startswith("/** ")]
    with_cap = rules(apparmor.build_profile("p", capabilities=["CAP_NET_BIND_SERVICE"], **CONTAINER))
    assert [x for x in with_cap if x.startswith("capability")] == ["capability net_bind_service,"]


def test_gpu_devices_only_when_asked():
    assert "/dev/nvidia*" not in apparmor.build_profile("p", **CONTAINER)
    assert "/dev/nvidia* rw," in apparmor.build_profile("p", gpus=True, **CONTAINER)


@pytest.mark.parametrize("args, message", [
    (dict(name="bad name"), "name: must be"),
    (dict(name="-x"), "name: must be"),
    (dict(name="p", exec_paths=[]), "exec: at least"),
    (dict(name="p", exec_paths=["usr/bin/ollama"]), "exec: not an absolute AppArmor path"),
    # a value that would end its rule and add another
    (dict(name="p", state=["/tmp/x rw, /** rwx"]), "state: not an absolute AppArmor path"),
    (dict(name="p", state=["/tmp/{a,b}"]), "state: not an absolute"),
    (dict(name="p", read=["/srv/../etc"]), "read: not an absolute"),
    (dict(name="p", state=["/"]), "state: / cannot be a state path"),
    (dict(name="p", state=["/**"]), "state: / cannot be a state path"),
    (dict(name="p", models="/srv/*"), "models: one directory"),
    (dict(name="p", models="/"), "models: one directory"),
    (dict(name="p", capabilities=["CAP_FLY"]), "capabilities: unknown capability: CAP_FLY"),
])
def test_bad_input_names_the_option(args, message):
    with pytest.raises(apparmor.AppArmorError, match=message.replace("(", r"\(")):
        apparmor.build_profile(**args)


def test_own_files_recognised():
    assert apparmor.is_generated(apparmor.build_profile("p"))
    assert not apparmor.is_generated("profile docker-default flags=(attach_disconnected) {\n}\n")


def test_host_state(tmp_path):
    assert apparmor.host_state(str(tmp_path))["reason"].startswith("the kernel has no AppArmor")
    flag = tmp_path / "sys/module/apparmor/parameters/enabled"
    flag.parent.mkdir(parents=True)
    flag.write_text("N\n")
    assert "built in but off" in apparmor.host_state(str(tmp_path))["reason"]
    flag.write_text("Y\n")
    assert "securityfs" in apparmor.host_state(str(tmp_path))["reason"]
    profiles = tmp_path / "sys/kernel/security/apparmor/profiles"
    profiles.parent.mkdir(parents=True)
    profiles.write_text("")
    assert apparmor.host_state(str(tmp_path))["enabled"]


def test_loaded_mode():
    text = "docker-default (enforce)\nllmsec-ollama (complain)\n/usr/bin/man (enforce)\n"
    assert apparmor.loaded_mode(text, "llmsec-ollama") == "complain"
    assert apparmor.loaded_mode(text, "docker-default") == "enforce"
    assert apparmor.loaded_mode(text, "llmsec") is None


def test_directory_rules():
    assert apparmor._dir_rules("/srv/models/", "r") == ["/srv/models/ r,", "/srv/models/** r,"]
    assert apparmor._dir_rules("/", "r") == ["/ r,", "/** r,"]
    assert apparmor._dir_rules("/srv/models/**", "r") == ["/srv/models/** r,"]
