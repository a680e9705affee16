"""Helpers shared by the scenarios' testinfra tests.

Each tests/test_*.py puts molecule/shared on sys.path and imports this file.
Molecule hands the tests its inventory in MOLECULE_INVENTORY_FILE.
"""

import json
import os
import subprocess
import time

import testinfra


def inventory_host(host_name):
    """A testinfra host from the scenario's inventory, for hosts the test is not parametrized over."""
    return testinfra.get_host("ansible://" + host_name, ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def name(host):
    return host.backend.get_hostname()


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
