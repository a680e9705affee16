"""`docker run` arguments for the test hosts: the systemd host of molecule/shared/systemd_host.yml, and any
Molecule platform of this project's scenarios.

The Molecule scenarios merge that file's keys (a YAML anchor per molecule.yml) and are created by
molecule/shared/create.yml through this module; tests/demo/demo.sh and the fleet benchmark start their
hosts with the same arguments, so that every test host is the same host.

usage: python3 tests/harness/systemd_host.py [EXTRA_CAPABILITY ...]
         prints one argument per line: the options, the image and the command.
       python3 tests/harness/systemd_host.py --create PLATFORMS_JSON
         Molecule's create: the platforms' networks (labelled owner=molecule, as the Docker driver does)
         and their containers, started side by side; a container that exists is started, not made again.
       python3 tests/harness/systemd_host.py --destroy PLATFORMS_JSON
         Molecule's destroy: those containers removed, then the networks Molecule made for them.
"""

import json
import os
import shlex
import subprocess
import sys

import yaml

DEFINITION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "molecule", "shared",
                          "systemd_host.yml")
# The Docker driver's command for a platform without one.
DEFAULT_COMMAND = 'bash -c "while true; do sleep 10000; done"'
# The platform keys this project's scenarios use; create refuses others rather than ignore them.
KNOWN = {"name", "image", "pre_build_image", "pull", "command", "stop_signal", "cgroupns_mode", "capabilities",
         "security_opts", "tmpfs", "volumes", "sysctls", "networks", "groups"}


def definition():
    with open(DEFINITION, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def platform_args(platform):
    """Options, image and command of one platform, as `docker run` takes them after -d/--name/--network."""
    unknown = set(platform) - KNOWN
    if unknown:
        raise ValueError("platform %s: keys this harness does not apply: %s"
                         % (platform.get("name"), ", ".join(sorted(unknown))))
    args = []
    if "cgroupns_mode" in platform:
        args += ["--cgroupns", platform["cgroupns_mode"]]
    if "stop_signal" in platform:
        args += ["--stop-signal", platform["stop_signal"]]
    for capability in platform.get("capabilities", []):
        args += ["--cap-add", capability]
    for option in platform.get("security_opts", []):
        args += ["--security-opt", option]
    for path in platform.get("tmpfs", []):
        args += ["--tmpfs", path]
    for volume in platform.get("volumes", []):
        args += ["-v", volume]
    for key, value in platform.get("sysctls", {}).items():
        args += ["--sysctl", "%s=%s" % (key, value)]
    return args + [platform["image"]] + shlex.split(platform.get("command", DEFAULT_COMMAND))


def docker_run_args(extra_capabilities=(), image=None):
    """The systemd host's options, image and command (extra capabilities added, another image if given)."""
    host = definition()
    host["capabilities"] = list(host["capabilities"]) + [
        c for c in extra_capabilities if c not in host["capabilities"]]
    if image:
        host["image"] = image
    return platform_args(host)


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check)


def networks(platforms):
    """The networks Molecule's Docker driver makes for these platforms, in order, each once."""
    names = []
    for platform in platforms:
        names += [net["name"] for net in platform.get("networks", []) if net["name"] not in names]
    return names


def create(platforms):
    """Molecule's create for these platforms: networks, then every container at once."""
    for network in networks(platforms):
        if docker("network", "inspect", network, check=False).returncode != 0:
            docker("network", "create", "--label", "owner=molecule", network)
            print("created network %s" % network)
    starting = []
    for platform in platforms:
        name = platform["name"]
        attached = [net["name"] for net in platform.get("networks", [])]
        if docker("container", "inspect", name, check=False).returncode == 0:
            command, attached = ["docker", "start", name], []  # attached when it was made
        else:
            command = (["docker", "run", "-d", "--name", name, "--hostname", name, "--label", "owner=molecule"]
                       + (["--network", attached[0]] if attached else []) + platform_args(platform))
        starting.append((name, attached[1:], subprocess.Popen(command, stdout=subprocess.PIPE,
                                                              stderr=subprocess.PIPE, text=True)))
    failed = []
    for name, more_networks, process in starting:
        _out, err = process.communicate()
        if process.returncode != 0:
            failed.append("%s: %s" % (name, err.strip()))
            continue
        for network in more_networks:
            docker("network", "connect", network, name)
        print("started %s" % name)
    if failed:
        raise SystemExit("create failed:\n" + "\n".join(failed))


def destroy(platforms):
    """Molecule's destroy: the containers of these names, killed and removed (the driver's force_kill), then
    the networks Molecule made for them (label owner=molecule: a network someone else made stays)."""
    present = set(docker("ps", "-a", "--format", "{{.Names}}").stdout.split())
    names = [platform["name"] for platform in platforms if platform["name"] in present]
    if names:
        docker("rm", "-f", *names)
    for name in names:
        print("removed container %s" % name)
    for network in networks(platforms):
        owner = docker("network", "inspect", "--format", '{{index .Labels "owner"}}', network, check=False)
        if owner.returncode == 0 and owner.stdout.strip() == "molecule":
            docker("network", "rm", network)
            print("removed network %s" % network)


if __name__ == "__main__":
    if sys.argv[1:2] in (["--create"], ["--destroy"]):
        {"--create": create, "--destroy": destroy}[sys.argv[1]](json.loads(sys.argv[2]))
    else:
        print("\n".join(docker_run_args(sys.argv[1:])))
