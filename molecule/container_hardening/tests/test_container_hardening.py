"""Verify container_hardening from Docker's view, from inside the container, and from the network."""

import json
import os

import pytest

from scenario_helpers import Refusals, inventory_host, run_role, wait_for

HOST = "llmsec-container-host"
CLIENT = "llmsec-container-client"
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "syscall_probe.py")
ESCAPES = ["mount", "unshare", "ptrace", "bpf", "keyctl", "io_uring_setup", "setns"]

testinfra_hosts = ["ansible://" + HOST]


def inspect(host, name="ollama"):
    return json.loads(host.check_output("docker inspect %s" % name))[0]


def image_ref(host):
    return host.file("/root/ollama-image/ref").content_string.strip()


def with_defaults(host, extra):
    """converge.yml's settings under the test's own."""
    return dict({"container_hardening_image": image_ref(host), "container_hardening_memory": "1g",
                 "container_hardening_nofile": 16384}, **extra)


def apply(host, args=(), **extra):
    return run_role(host, with_defaults(host, extra), args)


@pytest.fixture(scope="module")
def probe_path(host):
    host.ansible("copy", "src=%s dest=/root/syscall_probe.py mode=0644" % PROBE, check=False)
    return "/root/syscall_probe.py"


# --- what Docker runs -------------------------------------------------------------

def test_privileges_dropped(host):
    cfg = inspect(host)
    assert cfg["HostConfig"]["CapDrop"] == ["ALL"]
    assert not cfg["HostConfig"]["CapAdd"]
    assert cfg["Config"]["User"] == "1000:1000"
    assert cfg["HostConfig"]["ReadonlyRootfs"] is True
    opts = cfg["HostConfig"]["SecurityOpt"]
    assert "no-new-privileges:true" in opts
    (seccomp,) = [o for o in opts if o.startswith("seccomp=")]
    assert json.loads(seccomp[len("seccomp="):])["defaultAction"] == "SCMP_ACT_ERRNO"


def test_profile_on_disk_is_the_one_running(host):
    (seccomp,) = [o for o in inspect(host)["HostConfig"]["SecurityOpt"] if o.startswith("seccomp=")]
    on_disk = json.loads(host.file("/etc/llmsec/seccomp/ollama.json").content_string)
    assert json.loads(seccomp[len("seccomp="):]) == on_disk
    assert host.file("/etc/llmsec/seccomp/ollama.json").mode == 0o644


def test_mounts_and_ports(host):
    cfg = inspect(host)
    (models,) = [m for m in cfg["Mounts"] if m["Destination"] == "/models"]
    assert models["RW"] is False and models["Source"] == "/srv/ollama/models"
    assert not [m for m in cfg["Mounts"] if "docker.sock" in m.get("Source", "")]
    assert cfg["HostConfig"]["PortBindings"] == {"11434/tcp": [{"HostIp": "127.0.0.1", "HostPort": "11434"}]}
    tmpfs = cfg["HostConfig"]["Tmpfs"]
    assert "noexec" in tmpfs["/tmp"] and "uid=1000" in tmpfs["/home/ollama"]


def test_limits_logs_health_restart(host):
    cfg = inspect(host)
    hc = cfg["HostConfig"]
    assert hc["PidsLimit"] == 512
    assert hc["Memory"] == 1024 ** 3
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 16384, "Hard": 16384}]
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    assert hc["RestartPolicy"]["Name"] == "unless-stopped"
    assert cfg["Config"]["Healthcheck"]["Test"] == ["CMD", "ollama", "list"]
    wait_for(lambda: inspect(host)["State"].get("Health", {}).get("Status") == "healthy", timeout=120,
             what="the healthcheck to pass")


def test_dedicated_network_without_icc(host):
    net = json.loads(host.check_output("docker network inspect llmsec-ollama"))[0]
    assert net["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert list(inspect(host)["NetworkSettings"]["Networks"]) == ["llmsec-ollama"]


# --- from inside ---------------------------------------------------------------------

def test_not_root_no_new_privileges_seccomp_on(host):
    assert host.check_output("docker exec ollama id -u") == "1000"
    status = host.check_output("docker exec ollama cat /proc/1/status")
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # filter mode
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0


def test_escape_syscalls_get_eperm(host, probe_path):
    result = json.loads(host.check_output("docker exec -i ollama python3 - < %s" % probe_path))
    assert result == {name: "EPERM" for name in ESCAPES}, result


def test_control_without_the_profile(host, probe_path):
    """The same probe, same user, no capabilities, no seccomp: four of the calls work, so the test above can fail."""
    result = json.loads(host.check_output(
        "docker run --rm -i --cap-drop ALL -u 1000:1000 --security-opt seccomp=unconfined --entrypoint python3 "
        "%s - < %s" % (image_ref(host), probe_path)))
    assert [result[name] for name in ("unshare", "ptrace", "keyctl", "io_uring_setup")] == ["OK"] * 4, result


def test_models_and_root_read_only(host):
    out = host.run("docker exec ollama touch /models/planted")
    assert out.rc != 0 and "Read-only file system" in out.stderr
    out = host.run("docker exec ollama touch /usr/bin/planted")
    assert out.rc != 0 and "Read-only file system" in out.stderr
    assert not host.file("/srv/ollama/models/planted").exists


def test_home_and_tmp_writable_but_noexec(host):
    host.check_output("docker exec ollama sh -c 'cp /bin/true /tmp/t && chmod +x /tmp/t'")
    assert host.run("docker exec ollama /tmp/t").rc != 0  # noexec
    assert host.run("docker exec ollama touch /home/ollama/.ollama-test").rc == 0


# --- from the network ------------------------------------------------------------------

def test_api_on_loopback_only(host):
    assert host.check_output("curl -s http://127.0.0.1:11434/api/version").startswith("{")
    address = host.check_output("hostname -I").split()[0]
    assert host.run("curl -s --max-time 5 http://%s:11434/api/version" % address).rc != 0
    client = inventory_host(CLIENT)
    assert client.run("curl -s --max-time 5 http://%s:11434/api/version" % HOST).rc != 0


def test_inference_works_under_the_profile(host):
    out = host.check_output("curl -sN http://127.0.0.1:11434/api/generate -d '%s'"
                            % json.dumps({"model": "tiny:1b", "prompt": "hi"}))
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(lines) > 2 and lines[-1]["done"] is True


# --- the role's own behaviour -------------------------------------------------------------

def test_second_run_does_not_recreate(host):
    before = inspect(host)["Id"]
    result = apply(host)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "changed=0" in result.stdout
    assert inspect(host)["Id"] == before


def test_drift_from_the_pin_reported(host):
    """A new pin (an image update) is reported against what runs; check mode changes nothing."""
    before = inspect(host)["Id"]
    pin = host.file("/root/ollama-image/ref-next").content_string.strip()
    result = apply(host, args=["--check"], container_hardening_image=pin)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "it will be" in result.stdout and pin in result.stdout
    assert inspect(host)["Id"] == before


BAD_INPUT = [
    ({"container_hardening_image": "localhost:5000/llmsec/ollama-standin:latest"}, "must be pinned by digest"),
    ({"container_hardening_image": "localhost:5000/llmsec/ollama-standin:latest",
      "container_hardening_allow_floating_tag": True}, "bare or :latest tag is always refused"),
    ({"container_hardening_user": "0:0"}, "container_hardening_user must be a numeric uid:gid other than root"),
    ({"container_hardening_bind_address": "0.0.0.0"}, "container_hardening_bind_address"),
    ({"container_hardening_seccomp_deny": ["mount", "mountt"]}, "deny: mountt"),
    ({"container_hardening_env": {"OLLAMA_ORIGINS": "*"}}, "container_hardening_env cannot set"),
]


@pytest.fixture(scope="module")
def bad_input(host):
    """Every refusal case in one Ansible run (each over converge's settings, as apply() gives them), with the
    container and its seccomp profile around it."""
    return Refusals(host, [(with_defaults(host, extra), message) for extra, message in BAD_INPUT],
                    lambda: (inspect(host)["Id"], host.file("/etc/llmsec/seccomp/ollama.json").sha256sum))


@pytest.mark.parametrize("extra, message", BAD_INPUT)
def test_bad_input_refused_before_the_container_changes(host, bad_input, extra, message):
    bad_input.check(with_defaults(host, extra), message)
    assert inspect(host)["State"]["Running"]


def test_maintenance_mounts_models_read_write_then_back(host):
    result = apply(host, container_hardening_maintenance=True)
    assert result.returncode == 0, result.stdout[-3000:]
    (models,) = [m for m in inspect(host)["Mounts"] if m["Destination"] == "/models"]
    assert models["RW"] is True
    wait_for(lambda: host.run("curl -sf http://127.0.0.1:11434/api/version").rc == 0, what="the API")
    pulled = host.check_output("curl -s http://127.0.0.1:11434/api/pull -d '%s'"
                               % json.dumps({"model": "small:2b", "stream": False}))
    assert "success" in pulled
    result = apply(host)
    assert result.returncode == 0, result.stdout[-3000:]
    (models,) = [m for m in inspect(host)["Mounts"] if m["Destination"] == "/models"]
    assert models["RW"] is False
    wait_for(lambda: "small:2b" in host.run("curl -s http://127.0.0.1:11434/api/tags").stdout,
             what="the new model to be served read-only")
