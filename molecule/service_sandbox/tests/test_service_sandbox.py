"""Verify service_sandbox the way an attacker who got code running in the server would meet it."""

import json

import pytest

from scenario_helpers import Refusals, assert_refused, inventory_host, local_ai_findings, run_role, unit_status

HOSTS = ["llmsec-service-sandbox", "llmsec-service-sandbox-trixie"]  # Debian 12 and 13
DROPIN = "/etc/systemd/system/ollama.service.d/60-llmsec-sandbox.conf"
OVERRIDE = "/etc/systemd/system/ollama.service.d/override.conf"
PROBES = ["write_outside_state", "read_other_home", "exec_from_state", "unshare_user_namespace", "ptrace_traceme",
          "write_exec_memory", "vsock_socket", "setuid_file", "see_init"]

testinfra_hosts = ["ansible://" + name for name in HOSTS]


@pytest.fixture(scope="module")
def debian12():
    """For checks that the controller makes before it touches any host: one host is enough."""
    return inventory_host(HOSTS[0])


def main_pid(host, unit):
    pid = host.check_output("systemctl show --property=MainPID --value %s", unit)
    assert pid != "0", "%s is not running" % unit
    return pid


def exposure(host, unit):
    out = host.check_output("SYSTEMD_COLORS=0 systemd-analyze security --no-pager %s | tail -1", unit)
    return float(out.split(": ")[1].split()[0])


def api(host, path, data=None):
    cmd = "curl -sS --max-time 20 http://127.0.0.1:11434%s" % path
    if data is not None:
        cmd += " -d '%s'" % json.dumps(data)
    return host.check_output(cmd)


def sha(host, path):
    f = host.file(path)
    return f.sha256sum if f.exists else None


# --- the effect --------------------------------------------------------------

def test_ollama_runs_without_privileges(host):
    status = unit_status(host, "ollama")
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2"  # a filter
    assert int(status["CapEff"], 16) == 0
    assert int(status["CapBnd"], 16) == 0
    assert status["Uid"].split()[0] == host.check_output("id -u ollama")


def test_exposure_score_drops(host):
    # The same systemd, scoring a service nobody sandboxed (the root one) and ours.
    assert exposure(host, "llmsec-rootsvc") > 9.0
    assert exposure(host, "ollama") <= 2.0


def test_ollama_still_works_in_its_sandbox(host):
    # It writes its key (its home is writable) and serves the model prepare pulled.
    assert host.file("/usr/share/ollama/.ollama/id_ed25519").exists
    reply = json.loads(api(host, "/api/generate", {"model": "tiny:1b", "prompt": "hi", "stream": False}))
    assert reply["done"] is True and reply["response"]


def test_the_store_is_read_only_to_the_server_until_maintenance(host):
    """A compromised server cannot rewrite the weights it serves: its store is a ReadOnlyPaths= of the unit, so
    a pull fails as it does on a read-only store; a maintenance run lets a pull through and the next run makes
    the store read-only again. The audit sees the store writable only during maintenance."""
    store = "/usr/share/ollama/.ollama/models"
    manifest = store + "/manifests/registry.ollama.ai/library/sandboxed/latest"
    refused = json.loads(api(host, "/api/pull", {"model": "sandboxed:latest", "stream": False}))
    assert "read-only file system" in refused["error"], refused
    assert not host.file(manifest).exists and "writable_model" not in local_ai_findings(host)
    try:
        opened = run_role(host, {"service_sandbox_maintenance": True})
        assert opened.returncode == 0, opened.stdout[-3000:]
        pulled = json.loads(api(host, "/api/pull", {"model": "sandboxed:latest", "stream": False}))
        assert pulled == {"status": "success"} and host.file(manifest).exists
        assert [item["path"] for item in local_ai_findings(host)["writable_model"]] == [store]
    finally:
        closed = run_role(host, {})
        assert closed.returncode == 0, closed.stdout[-3000:]
    assert "error" in json.loads(api(host, "/api/pull", {"model": "sandboxed:latest", "stream": False}))
    assert "writable_model" not in local_ai_findings(host)


def test_dropin(host):
    f = host.file(DROPIN)
    assert f.user == "root" and f.mode == 0o644
    lines = f.content_string.splitlines()
    assert "ReadWritePaths=-/usr/share/ollama" in lines
    assert "NoExecPaths=-/usr/share/ollama" in lines
    assert "PrivateDevices=yes" in lines  # no GPU here


def test_probe_is_denied_what_it_may_do_without_the_sandbox(host):
    """Each thing a compromised server might try: denied in the sandbox, allowed to the same user without it."""
    sandboxed = json.loads(host.file("/var/lib/probe/result.json").content_string)
    # The results come from the sandboxed run, not from prepare's.
    assert sandboxed["status"]["NoNewPrivs"] == "1" and sandboxed["status"]["Seccomp"] == "2"
    host.check_output("rm -f /srv/probe-owned/x")
    control_out = "/tmp/probe-control.json"
    host.check_output("runuser -u probe -- /usr/bin/python3 /usr/local/bin/sandbox-probe /var/lib/probe %s",
                      control_out)
    control = json.loads(host.file(control_out).content_string)
    assert control["status"]["NoNewPrivs"] == "0"
    assert sandboxed["write_state"]["allowed"], sandboxed["write_state"]
    for probe in PROBES:
        assert control[probe]["allowed"], (probe, control[probe])
        assert not sandboxed[probe]["allowed"], (probe, sandboxed[probe])
    assert sandboxed["write_outside_state"]["detail"].startswith("EROFS")
    # systemd 252 filters mmap/mprotect with seccomp (EPERM); 257 asks the kernel (PR_SET_MDWE: EACCES).
    assert sandboxed["write_exec_memory"]["detail"].startswith(("EPERM", "EACCES"))


# --- a sandbox the server cannot run in is rolled back ----------------------

def test_a_sandbox_that_breaks_the_server_is_rolled_back(host):
    before = sha(host, DROPIN)
    # No AF_INET: the server cannot listen.
    result = run_role(host, {"service_sandbox_overrides": {"RestrictAddressFamilies": "AF_UNIX"},
                             "service_sandbox_start_timeout": 8})
    assert_refused(result, "did not come up in the new sandbox")
    assert "The previous drop-in is back" in result.stdout + result.stderr
    assert sha(host, DROPIN) == before
    assert json.loads(api(host, "/api/version"))["version"]
    assert unit_status(host, "ollama")["Seccomp"] == "2"


# --- what the role refuses ---------------------------------------------------

BAD_INPUT = [
    ({"service_sandbox_writable_paths": ["relative/path"]}, "service_sandbox_writable_paths"),
    ({"service_sandbox_writable_paths": ["/"]}, "service_sandbox_writable_paths"),
    ({"service_sandbox_devices": "gpu"}, "service_sandbox_devices"),
    ({"service_sandbox_max_exposure": 11}, "service_sandbox_max_exposure"),
    ({"service_sandbox_devices": ["char-nvidiactl rwx"]}, "devices: 'char-nvidiactl rwx'"),
    ({"service_sandbox_overrides": {"no such": 1}}, "overrides: 'no such' is not a systemd directive name"),
    ({"service_sandbox_capabilities": ["SYS_ADMIN"]}, "capabilities: 'SYS_ADMIN' is not a capability name"),
    ({"service_sandbox_unit": "no-such-server"}, "no-such-server.service is not installed"),
    ({"service_sandbox_unit": "llmsec-rootsvc", "service_sandbox_health_url": ""},
     "llmsec-rootsvc.service runs as root"),
]


@pytest.fixture(scope="module")
def bad_input(debian12):
    """Every refusal case in one Ansible run, with the drop-in and the server's PID around it."""
    return Refusals(debian12, BAD_INPUT,
                    lambda: (sha(debian12, DROPIN), main_pid(debian12, "ollama")))


@pytest.mark.parametrize("extra_vars, message", BAD_INPUT)
def test_bad_input_is_refused_before_anything_changes(debian12, bad_input, extra_vars, message):
    bad_input.check(extra_vars, message)
    assert not debian12.file("/etc/systemd/system/llmsec-rootsvc.service.d").exists


def test_a_later_dropin_that_weakens_the_sandbox_is_refused(debian12):
    before = sha(debian12, DROPIN)
    debian12.check_output("printf '[Service]\\nNoNewPrivileges=no\\n' > %s", OVERRIDE)
    try:
        result = run_role(debian12, {})
        assert_refused(result, "%s:2 sets NoNewPrivileges=no" % OVERRIDE)
        assert sha(debian12, DROPIN) == before
    finally:
        debian12.check_output("rm -f %s", OVERRIDE)


def test_verify_catches_a_server_running_without_its_sandbox(debian12):
    """Someone weakened it by hand and restarted it; a report-only run still fails on what it sees."""
    debian12.check_output("printf '[Service]\\nNoNewPrivileges=no\\nSystemCallFilter=\\n' > %s", OVERRIDE)
    try:
        debian12.check_output("systemctl daemon-reload && systemctl restart ollama")
        result = run_role(debian12, {"service_sandbox_conflicts": "report"})
        assert_refused(result, "ollama is not sandboxed as expected")
    finally:
        debian12.check_output("rm -f %s && systemctl daemon-reload && systemctl restart ollama", OVERRIDE)
    status = unit_status(debian12, "ollama")
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"


def test_gpu_nodes_are_allowed_when_present(debian12):
    """With an NVIDIA control node on the host, a check run would keep /dev and allow the NVIDIA devices only."""
    debian12.check_output("mknod -m 0666 /dev/nvidiactl c 195 255")
    try:
        result = run_role(debian12, {}, ["--check", "--diff"])
    finally:
        debian12.check_output("rm -f /dev/nvidiactl")
    assert result.returncode == 0, result.stdout[-3000:]
    for line in ("+PrivateDevices=no", "+DevicePolicy=closed", "+DeviceAllow=char-nvidiactl rw",
                 "+DeviceAllow=char-nvidia-uvm rw", "-PrivateDevices=yes"):
        assert line in result.stdout, result.stdout[-3000:]
    assert "PrivateDevices=yes" in debian12.file(DROPIN).content_string  # check mode changed nothing
