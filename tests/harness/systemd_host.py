"""`docker run` arguments for the systemd test host of molecule/shared/systemd_host.yml.

The Molecule scenarios merge that file's keys (a YAML anchor per molecule.yml);
tests/demo/demo.sh and the fleet benchmark start their hosts with these
arguments, so that every test host is the same host.

usage: python3 tests/harness/systemd_host.py [EXTRA_CAPABILITY ...]
prints one argument per line: the options, the image and the command.
"""

import os
import sys

import yaml

DEFINITION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "molecule", "shared",
                          "systemd_host.yml")


def definition():
    with open(DEFINITION, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def docker_run_args(extra_capabilities=(), image=None):
    """Options, image and command, as `docker run` takes them after its own -d/--name/--network."""
    host = definition()
    args = ["--cgroupns", host["cgroupns_mode"], "--stop-signal", host["stop_signal"]]
    for capability in list(host["capabilities"]) + [c for c in extra_capabilities if c not in host["capabilities"]]:
        args += ["--cap-add", capability]
    for option in host["security_opts"]:
        args += ["--security-opt", option]
    for path in host["tmpfs"]:
        args += ["--tmpfs", path]
    for volume in host["volumes"]:
        args += ["-v", volume]
    return args + [image or host["image"]] + host["command"].split()


if __name__ == "__main__":
    print("\n".join(docker_run_args(sys.argv[1:])))
