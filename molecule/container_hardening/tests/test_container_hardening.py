"""Verify container_hardening from Docker's view, from inside the container, and from the network."""

import json
import os

import pytest

from scenario_helpers import Refusals, inventory_host, run_role, wait_for

HOST = "llmsec-container-host"
CLIENT = "llmsec-container-client"
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "syscall_probe.py")
REACH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reach_probe.py")
README = os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "roles", "container_hardening", "README.md")
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
    ncpu = int(host.check_output("docker info --format '{{.NCPU}}'"))
    assert hc["NanoCpus"] == int(max(1.0, int(ncpu * 0.75 * 100) / 100) * 1e9)  # auto: 3/4 of Docker's CPUs
    assert hc["CpuShares"] == 512
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
    ({"container_hardening_cpus": "half"}, "container_hardening_cpus must be auto, a number of CPUs, or 0"),
    ({"container_hardening_cpu_shares": 1}, "container_hardening_cpu_shares must be 0 (Docker's default) or from 2"),
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


# --- segmentation, by attack ------------------------------------------------------------------

def test_a_compromised_neighbour_cannot_reach_ollama(host):
    """Neighbours on the same network (inter-container traffic off), on another network and on Docker's default
    bridge try the container's address and the host's side of the bridge (the port is published on loopback
    only): all closed. The controls: the host reaches the container's address, and the neighbour on the other
    network reaches a listener beside it, so the probe does report an open port."""
    host.ansible("copy", "src=%s dest=/root/reach_probe.py mode=0644" % REACH, check=False)
    cfg = inspect(host)
    ollama_ip = cfg["NetworkSettings"]["Networks"]["llmsec-ollama"]["IPAddress"]
    gateway = cfg["NetworkSettings"]["Networks"]["llmsec-ollama"]["Gateway"]
    assert host.run("curl -sf --max-time 5 http://%s:11434/api/version" % ollama_ip).rc == 0
    image = image_ref(host)
    host.run("docker network create llmsec-elsewhere")
    # Two containers in all (each start copies the image on vfs): the neighbour moves from network to network.
    sleeper = "--entrypoint python3 %s -c 'import time; time.sleep(600)'" % image
    host.check_output("docker run -d --rm --name llmsec-listener --network llmsec-elsewhere --entrypoint python3 %s "
                      "-m http.server 11434" % image)
    host.check_output("docker run -d --rm --name llmsec-neighbour --network llmsec-ollama %s" % sleeper)
    try:
        listener = host.check_output("docker inspect -f '{{(index .NetworkSettings.Networks \"llmsec-elsewhere\")"
                                     ".IPAddress}}' llmsec-listener")
        wait_for(lambda: host.run("docker exec llmsec-listener python3 -c 'import socket; "
                                  "socket.create_connection((\"127.0.0.1\", 11434), 1)'").rc == 0,
                 what="the control listener")
        results, previous = {}, "llmsec-ollama"
        for net in ("llmsec-ollama", "llmsec-elsewhere", "bridge"):
            if net != previous:
                host.check_output("docker network disconnect %s llmsec-neighbour && docker network connect %s "
                                  "llmsec-neighbour" % (previous, net))
                previous = net
            extra = listener + ":11434" if net == "llmsec-elsewhere" else ""
            results[net] = json.loads(host.check_output(
                "docker exec -i llmsec-neighbour python3 - %s:11434 %s:11434 %s < /root/reach_probe.py"
                % (ollama_ip, gateway, extra)))
    finally:
        host.run("docker rm -f llmsec-listener llmsec-neighbour")
    assert results["llmsec-elsewhere"].pop(listener + ":11434") == "open", results  # the control
    for net, result in results.items():
        assert len(result) == 2 and "open" not in result.values(), (net, result)


# --- CIS Docker Benchmark 1.6.0, section 5 (Container Runtime) ------------------------------------
# One check per item, numbered as docker-bench-security numbers them. An item that does not hold fails,
# unless the role README's table lists it as accepted with the reason; then its check asserts the accepted
# condition (5.9: the service port, and nothing else).

SENSITIVE = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")


def _status_of_exec(host, *args):
    text = host.check_output("docker exec %s ollama cat /proc/self/status" % " ".join(args))
    return {k: v.strip() for k, v in (line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)}


def cis_5_1(host, cfg):
    assert host.check_output("docker info --format '{{.Swarm.LocalNodeState}}'") == "inactive"


def cis_5_2(host, cfg):
    """Accepted on hosts without AppArmor (this kernel): Docker's docker-default is named explicitly and the role
    says why; the role's own profile is written, compiled and loaded where AppArmor is active (the VM's kernel)."""
    assert "apparmor=docker-default" in cfg["HostConfig"]["SecurityOpt"]
    assert cfg["AppArmorProfile"] == ""  # nothing confines it here: said, not hidden
    assert not host.file("/sys/module/apparmor/parameters/enabled").exists
    profile = host.file("/etc/apparmor.d/llmsec-ollama")
    assert profile.exists and profile.mode == 0o644
    assert host.run("apparmor_parser -Q -K -T /etc/apparmor.d/llmsec-ollama").rc == 0


def cis_5_3(host, cfg):
    """Accepted: Debian and Ubuntu confine with AppArmor, not SELinux; nothing turns labelling off."""
    opts = cfg["HostConfig"]["SecurityOpt"]
    assert opts and not [o for o in opts if o.replace(":", "=").startswith("label=disable")]


def cis_5_4(host, cfg):
    assert cfg["HostConfig"]["CapDrop"] == ["ALL"] and not cfg["HostConfig"]["CapAdd"]


def cis_5_5(host, cfg):
    assert cfg["HostConfig"]["Privileged"] is False


def cis_5_6(host, cfg):
    for mount in cfg["Mounts"]:
        source = mount["Source"].rstrip("/") or "/"
        assert source not in SENSITIVE, mount
        assert not (mount["RW"] and [d for d in SENSITIVE if d != "/" and source.startswith(d + "/")]), mount


def cis_5_7(host, cfg):
    names = host.check_output("docker exec ollama sh -c 'cat /proc/[0-9]*/comm'").split()
    assert names and "sshd" not in names


def cis_5_8(host, cfg):
    ports = [int(b["HostPort"]) for b in sum(cfg["HostConfig"]["PortBindings"].values(), [])]
    assert ports and min(ports) > 1024


def cis_5_9(host, cfg):
    """Accepted: 11434 is the service; it is the only port, published on loopback."""
    assert cfg["HostConfig"]["PortBindings"] == {"11434/tcp": [{"HostIp": "127.0.0.1", "HostPort": "11434"}]}
    assert list(cfg["Config"].get("ExposedPorts") or {}) == ["11434/tcp"]


def cis_5_10(host, cfg):
    assert cfg["HostConfig"]["NetworkMode"] == "llmsec-ollama"


def cis_5_11(host, cfg):
    assert cfg["HostConfig"]["Memory"] > 0


def cis_5_12(host, cfg):
    assert cfg["HostConfig"]["NanoCpus"] > 0 and cfg["HostConfig"]["CpuShares"] not in (0, 1024)


def cis_5_13(host, cfg):
    assert cfg["HostConfig"]["ReadonlyRootfs"] is True


def cis_5_14(host, cfg):
    bindings = sum(cfg["HostConfig"]["PortBindings"].values(), [])
    assert bindings and all(b["HostIp"] in ("127.0.0.1", "::1") for b in bindings)


def cis_5_15(host, cfg):
    """Holds as docker-bench reads it (at most 5 retries); the role keeps unless-stopped so that Ollama is back after
    a reboot, and a crash loop shows in the healthcheck and the restart count."""
    policy = cfg["HostConfig"]["RestartPolicy"]
    assert policy["Name"] == "unless-stopped" and policy["MaximumRetryCount"] <= 5


def cis_5_16(host, cfg):
    assert cfg["HostConfig"]["PidMode"] != "host"


def cis_5_17(host, cfg):
    assert cfg["HostConfig"]["IpcMode"] != "host"


def cis_5_18(host, cfg):
    assert not cfg["HostConfig"]["Devices"] and not cfg["HostConfig"].get("DeviceRequests")


def cis_5_19(host, cfg):
    assert cfg["HostConfig"]["Ulimits"] == [{"Name": "nofile", "Soft": 16384, "Hard": 16384}]


def cis_5_20(host, cfg):
    assert cfg["Mounts"] and all(m.get("Propagation", "") not in ("shared", "rshared") for m in cfg["Mounts"])


def cis_5_21(host, cfg):
    assert cfg["HostConfig"]["UTSMode"] != "host"


def cis_5_22(host, cfg):
    opts = cfg["HostConfig"]["SecurityOpt"]
    assert not [o for o in opts if o.replace(":", "=") == "seccomp=unconfined"]
    assert [o for o in opts if o.startswith("seccomp={")]


def cis_5_23(host, cfg):
    """Accepted: who may run `docker exec --privileged` is who holds the Docker socket (root). What holds: an
    ordinary exec gets the container's confinement."""
    status = _status_of_exec(host)
    assert (status["NoNewPrivs"], status["Seccomp"], int(status["CapEff"], 16)) == ("1", "2", 0)


def cis_5_24(host, cfg):
    """Accepted for the same reason; what holds: `docker exec -u 0` gets uid 0 and nothing with it."""
    status = _status_of_exec(host, "-u", "0")
    assert status["Uid"].split()[0] == "0"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0 and status["Seccomp"] == "2"
    out = host.run("docker exec -u 0 ollama touch /usr/bin/planted-by-root")
    assert out.rc != 0 and "Read-only file system" in out.stderr


def cis_5_25(host, cfg):
    assert not cfg["HostConfig"]["CgroupParent"]


def cis_5_26(host, cfg):
    assert "no-new-privileges:true" in cfg["HostConfig"]["SecurityOpt"]


def cis_5_27(host, cfg):
    assert cfg["Config"]["Healthcheck"]["Test"] and cfg["State"]["Health"]["Status"] in ("healthy", "starting")


def cis_5_28(host, cfg):
    """Manual in the benchmark; here the image is pinned by digest and runs what the digest names."""
    pinned = cfg["Config"]["Image"]
    assert "@sha256:" in pinned
    digests = json.loads(host.check_output("docker image inspect --format '{{json .RepoDigests}}' %s" % cfg["Image"]))
    assert pinned.split("@")[1] in [d.split("@")[1] for d in digests]


def cis_5_29(host, cfg):
    assert cfg["HostConfig"]["PidsLimit"] == 512


def cis_5_30(host, cfg):
    assert "bridge" not in cfg["NetworkSettings"]["Networks"]


def cis_5_31(host, cfg):
    assert cfg["HostConfig"]["UsernsMode"] != "host"


def cis_5_32(host, cfg):
    assert not [m for m in cfg["Mounts"] if "docker.sock" in m.get("Source", "") + m.get("Destination", "")]


CIS = {"5.%d" % n: globals()["cis_5_%d" % n] for n in range(1, 33)}


@pytest.mark.parametrize("item", sorted(CIS, key=lambda i: int(i.split(".")[1])))
def test_cis_docker_5(host, item):
    CIS[item](host, inspect(host))


def accepted_in_readme():
    """The items the role README's CIS table marks accepted: rows like `| 5.9 | accepted | reason |`."""
    with open(README, encoding="utf-8") as handle:
        rows = [line.split("|") for line in handle if line.startswith("| 5.")]
    return {cells[1].strip(): cells[3].strip() for cells in rows if cells[2].strip() == "accepted"}


def test_cis_accepted_items_are_those_the_readme_gives_reasons_for():
    accepted = {item for item, check in CIS.items() if (check.__doc__ or "").startswith("Accepted")}
    readme = accepted_in_readme()
    assert set(readme) == accepted and all(readme.values()), readme
