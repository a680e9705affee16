"""Helpers shared by the scenarios' testinfra tests.

Each tests/test_*.py puts molecule/shared on sys.path and imports this file.
Molecule hands the tests its inventory in MOLECULE_INVENTORY_FILE.
"""

import json
import os
import shlex
import subprocess
import time

import testinfra


def inventory_host(host_name):
    """A testinfra host from the scenario's inventory, for hosts the test is not parametrized over."""
    return testinfra.get_host("ansible://" + host_name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def name(host):
    return host.backend.get_hostname()


def unit_status(host, unit):
    """/proc/<MainPID>/status of a running systemd unit as a dict (NoNewPrivs, Seccomp, CapEff, Uid...)."""
    pid = host.check_output("systemctl show --property=MainPID --value %s", unit)
    assert pid != "0", "%s is not running" % unit
    text = host.check_output("cat /proc/%s/status", pid)
    return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)


APPLY_ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apply_role.yml")


def run_role(host, role, extra_vars, args=()):
    """Apply a role to this host only, with extra vars (and ansible-playbook args such as --check); never raises."""
    extra_vars = dict(extra_vars, role_under_test=role)
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", name(host),
         APPLY_ROLE, "-e", json.dumps(extra_vars)] + list(args),
        capture_output=True, text=True, env=os.environ, timeout=600, check=False)


def assert_refused(result, message):
    """The run failed, and said why in words that name the variable."""
    assert result.returncode != 0, result.stdout[-2000:]
    assert message in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def wait_for(predicate, timeout=90, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(2)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


SHARED = os.path.dirname(os.path.abspath(__file__))


def https(client, url, cacert, *args):
    """(HTTP status, lowercased headers, body) of one curl request from a client container; status 0 when no
    HTTP answer came."""
    cmd = ["curl", "-sS", "--max-time", "20", "--cacert", cacert, "-D", "/dev/stderr",
           "-w", "\n%{http_code}"] + list(args) + [url]
    result = client.run(" ".join(shlex.quote(part) for part in cmd))
    body, _sep, status = result.stdout.rpartition("\n")
    return int(status or 0), result.stderr.lower(), body


def copy_stream_probe(container, script="stream_probe.py"):
    """Put a probe script of molecule/shared (stream_probe.py, burst_probe.py) on a client container in /opt."""
    subprocess.run(["docker", "cp", os.path.join(SHARED, script), container + ":/opt/" + script], check=True)


def probe(client, script, *args):
    out = client.check_output("python3 -W ignore /opt/%s %s" % (script, " ".join(shlex.quote(a) for a in args)))
    return json.loads(out)


def assert_streamed(result):
    """Lines arrived one by one as the stand-in produced them (6 chunks, 0.3 s apart), not in one buffered lump."""
    times = result["times"]
    assert result["status"] == 200, result
    assert len(times) >= 6, times
    assert times[-1] - times[0] >= 1.0, times
    assert sum(1 for a, b in zip(times, times[1:]) if b - a >= 0.15) >= 4, times
