#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: systemd_sandbox
short_description: Sandbox a natively installed AI server (such as ollama.service) with systemd
version_added: 1.0.0
description:
  - Writes a managed drop-in under C(/etc/systemd/system/<unit>.d/) that takes every capability away, sets
    no-new-privileges, makes the file system read-only except the server's own state (which is not
    executable), gives the server a private C(/tmp) and C(/dev), hides kernel tunables, modules, logs,
    cgroups and other users' processes, refuses namespaces, realtime, set-uid files and W+X memory, and
    filters system calls (C(@system-service @resources), without C(@privileged)).
  - The writable state is the service user's home and C(OLLAMA_MODELS) when the unit sets it, unless
    O(writable_paths) says otherwise.
  - GPUs stay usable. With O(devices=auto) the device nodes of NVIDIA (C(/dev/nvidiactl)), AMD
    (C(/dev/kfd), C(/dev/dri)) and WSL (C(/dev/dxg)) that exist on the host are allowed with
    C(DevicePolicy=closed); with none of them the server gets C(PrivateDevices=yes).
  - Refuses a unit that runs as root, because the sandbox is for a dedicated user, as Ollama's install script
    creates.
  - Drop-ins applied after the managed one that set the same directives would weaken it; they are
    conflicts, reported or refused (O(conflicts)).
  - Does not reload systemd or restart the service.
seealso:
  - module: llmsec.hardening.seccomp_profile
  - module: llmsec.hardening.systemd_environment
  - plugin: llmsec.hardening.systemd_exposure
    plugin_type: filter
  - plugin: llmsec.hardening.proc_status
    plugin_type: filter
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
  - llmsec.hardening.attributes.full
options:
  unit:
    description: Name of the systemd unit, with or without the C(.service) suffix.
    type: str
    required: true
  dropin:
    description: File name of the managed drop-in.
    type: str
    default: 60-llmsec-sandbox.conf
  owner:
    description: Written into the drop-in's header to say which role manages it.
    type: str
    default: llmsec.hardening
  writable_paths:
    description:
      - Absolute paths the server may write (and not execute from). Omit for the service user's home and
        C(OLLAMA_MODELS).
    type: list
    elements: str
  models_writable:
    description:
      - Let the server write its model store (C(OLLAMA_MODELS), else C(~/.ollama/models) of the service user),
        to pull, create or delete models.
      - By default the store is a C(ReadOnlyPaths=) of the unit even inside a writable home, so that a
        compromised server cannot rewrite the weights it serves; Ollama starts and serves from a read-only
        store, and a pull fails until a run with this option.
    type: bool
    default: false
  devices:
    description:
      - C(auto) allows the GPU device nodes present on the host, C(none) allows no device nodes, or a list of
        C(DeviceAllow=) entries such as C(char-nvidiactl rw).
    type: raw
    default: auto
  capabilities:
    description: Capabilities to keep, such as C(CAP_NET_BIND_SERVICE) for a port below 1024. Default none.
    type: list
    elements: str
    default: []
  address_families:
    description: Socket address families the server may use.
    type: list
    elements: str
    default: [AF_UNIX, AF_INET, AF_INET6, AF_NETLINK]
  overrides:
    description:
      - Directives to set instead of the module's, as a mapping of directive to value (a list for several
        lines, C(null) to leave the directive out). For example C(MemoryDenyWriteExecute=false) for a GPU
        runtime that compiles kernels at run time.
    type: dict
    default: {}
  conflicts:
    description: What to do when a drop-in applied after the managed one sets one of its directives.
    type: str
    choices: [fail, report]
    default: fail
  backup:
    description: Back up the managed drop-in before replacing it.
    type: bool
    default: true
notes:
  - Needs systemd 247 or later (C(NoExecPaths=)); Debian 12 has 252.
"""

EXAMPLES = r"""
- name: Sandbox Ollama
  llmsec.hardening.systemd_sandbox:
    unit: ollama
  register: sandbox
  notify: Restart ollama
"""

RETURN = r"""
dropin_path:
  description: Path of the managed drop-in.
  returned: always
  type: str
  sample: /etc/systemd/system/ollama.service.d/60-llmsec-sandbox.conf
user:
  description: The user the unit runs as.
  returned: always
  type: str
  sample: ollama
writable_paths:
  description: Paths the server may write.
  returned: always
  type: list
  elements: str
  sample: [/usr/share/ollama]
read_only_paths:
  description: Paths below the writable ones that the server may only read (the model store).
  returned: always
  type: list
  elements: str
  sample: [/usr/share/ollama/.ollama/models]
devices:
  description: DeviceAllow= entries written (empty means PrivateDevices=yes).
  returned: always
  type: list
  elements: str
directives:
  description: The drop-in's directives, in order, as [directive, value] pairs.
  returned: always
  type: list
  elements: list
conflicts:
  description: Assignments of the managed directives in drop-ins applied after the managed one.
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/systemd/system/ollama.service.d/override.conf, line: 3, key: NoNewPrivileges, value: "no"}]
backup_file:
  description: Backup of the previous drop-in, when one was replaced.
  returned: when changed and a previous drop-in existed
  type: str
previous_existed:
  description: Whether a managed drop-in existed before this run.
  returned: always
  type: bool
"""

import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_env, systemd_sandbox
from ansible_collections.llmsec.hardening.plugins.module_utils.files import write_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            dropin=dict(type="str", default="60-llmsec-sandbox.conf"),
            owner=dict(type="str", default="llmsec.hardening"),
            writable_paths=dict(type="list", elements="str"),
            models_writable=dict(type="bool", default=False),
            devices=dict(type="raw", default="auto"),
            capabilities=dict(type="list", elements="str", default=[]),
            address_families=dict(type="list", elements="str",
                                  default=["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"]),
            overrides=dict(type="dict", default={}),
            conflicts=dict(type="str", choices=["fail", "report"], default="fail"),
            backup=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C", SYSTEMD_PAGER="")
    params = module.params
    try:
        unit_name = systemd_env.unit_file_name(params["unit"])
        own_path = systemd_env.dropin_path(unit_name, params["dropin"])
        if params["writable_paths"] is not None:
            systemd_sandbox.check_paths(params["writable_paths"], "writable_paths")
        systemd_sandbox.check_overrides(params["overrides"])
        devices = params["devices"]
        if devices == "auto":
            devices = systemd_sandbox.detect_devices()
        elif devices == "none":
            devices = []
        systemd_sandbox.check_devices(devices)
    except (systemd_env.UnitEnvError, systemd_sandbox.SandboxError) as exc:
        module.fail_json(msg=to_native(exc))

    props = systemd_env.systemctl_show(module, unit_name, ["User", "DynamicUser", "Environment", "DropInPaths"])
    user = props.get("User", "")
    dynamic_user = props.get("DynamicUser") == "yes"
    if systemd_sandbox.is_root_user(user, dynamic_user):
        module.fail_json(msg="%s runs as root (User=%s). Run it as a dedicated user, as Ollama's install script "
                         "does (User=ollama), before sandboxing it." % (unit_name, user or "unset"))

    home = ""
    if not dynamic_user:
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            if params["writable_paths"] is None:  # its home is the default state directory
                module.fail_json(msg="%s runs as user %s, who does not exist on this host" % (unit_name, user))
    environment = systemd_env.parse_environment(props.get("Environment", ""))
    writable = params["writable_paths"]
    if writable is None:
        writable = systemd_sandbox.default_writable_paths(home, environment)
    models = systemd_sandbox.default_models_path(home, environment)
    read_only = [models] if models and not params["models_writable"] else []

    try:
        pairs = systemd_sandbox.directives(
            writable, devices, capabilities=params["capabilities"],
            address_families=params["address_families"], overrides=params["overrides"],
            home_protected=systemd_sandbox.home_is_protected(writable), read_only_paths=read_only)
    except systemd_sandbox.SandboxError as exc:
        module.fail_json(msg=to_native(exc))

    before = systemd_env.read_text(own_path)
    after = systemd_sandbox.render_dropin(pairs, params["owner"])

    ordered = systemd_env.applied_dropins(unit_name, props.get("DropInPaths", ""), own_path)
    names = set(key for key, dummy in pairs)
    conflicts = systemd_sandbox.later_conflicts([(p, systemd_env.read_text(p)) for p in ordered], own_path, names)

    result = dict(changed=False, dropin_path=own_path, user=user, writable_paths=writable,
                  read_only_paths=read_only, devices=devices,
                  directives=[list(pair) for pair in pairs], conflicts=conflicts,
                  previous_existed=before is not None)
    if conflicts:
        described = "; ".join("%s:%d sets %s=%s" % (c["path"], c["line"], c["key"], c["value"])
                              for c in conflicts)
        if params["conflicts"] == "fail":
            message = "drop-ins applied after %s would weaken the sandbox: %s" % (params["dropin"], described)
            module.fail_json(msg=message, **result)
        module.warn("left in place (conflicts=report): %s" % described)

    if before != after:
        result["changed"] = True
        if module._diff:
            result["diff"] = dict(before_header=own_path, after_header=own_path, before=before or "",
                                  after=after)
        if not module.check_mode:
            if before is not None and params["backup"]:
                result["backup_file"] = module.backup_local(own_path)
            write_file(module, own_path, after, 0o644)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
