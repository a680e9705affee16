#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: apparmor_profile
short_description: Generate, check and load a deny-by-default AppArmor profile for a model server
version_added: 1.1.0
description:
  - Writes a self-contained AppArmor profile (no C(#include)) for Ollama or a similar server. Allowed are its
    binary and libraries (read, map, execute in the profile), the system files a server reads to start,
    O(models) read-only (read-write with O(models_writable)), O(state) read-write, TCP, UDP, Unix and netlink
    sockets, signals from the host and the container runtime, and the capabilities in O(capabilities).
    Everything else is denied, and mount, ptrace, raw and packet sockets and writes to C(/proc) and C(/sys)
    are denied explicitly.
  - Every profile is checked with C(apparmor_parser -Q -K -T) (compiled, not loaded) before it replaces the
    file, so a broken profile never reaches the host. A file at O(dest) that the module did not write is
    never replaced.
  - Where AppArmor is active (kernel module on, securityfs shows it) and O(load) is true, the profile is
    loaded in enforce mode with C(apparmor_parser -r) when it changed or is not loaded. Where it is not
    active, nothing is loaded and RV(active) is false with the reason in RV(reason); the caller decides what runs instead.
  - Paths are as the confined process sees them (inside the container, for Docker's
    C(--security-opt apparmor=NAME)).
seealso:
  - module: llmsec.hardening.seccomp_profile
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
  - llmsec.hardening.attributes.full
options:
  name:
    description: Profile name (what C(--security-opt apparmor=) names).
    type: str
    required: true
  exec:
    description: Path globs the server may execute in its own profile (C(mrix)), its binary first.
    type: list
    elements: str
    default: [/usr/bin/ollama, /usr/local/bin/ollama, /usr/lib/ollama/**]
  models:
    description: The model store, as the server sees it. Read-only unless O(models_writable).
    type: str
  models_writable:
    description: Grant read-write on O(models) (a maintenance window).
    type: bool
    default: false
  state:
    description: Directories the server writes (its home, C(/tmp)); never executable.
    type: list
    elements: str
    default: []
  read:
    description: More read-only directories or path globs.
    type: list
    elements: str
    default: []
  capabilities:
    description: Capabilities the profile grants (C(NET_BIND_SERVICE) or C(net_bind_service)). Default none.
    type: list
    elements: str
    default: []
  gpus:
    description: Allow the NVIDIA, DRI and ROCm device nodes and their discovery files.
    type: bool
    default: false
  dest:
    description: Where the profile is written (mode 0644). A boot-time AppArmor service loads C(/etc/apparmor.d).
    type: path
    required: true
  load:
    description: Load the profile into the kernel where AppArmor is active.
    type: bool
    default: true
  require_active:
    description: Fail, before anything is written, on a host where AppArmor is not active.
    type: bool
    default: false
requirements:
  - apparmor_parser on the host (Debian's and Ubuntu's C(apparmor) package).
notes:
  - The C(abi <abi/3.0>) line needs AppArmor 3.0 or later user space (Debian 12, Ubuntu 22.04).
"""

EXAMPLES = r"""
- name: A profile for the Ollama container (paths inside the container)
  llmsec.hardening.apparmor_profile:
    name: llmsec-ollama
    models: /models
    state: [/home/ollama, /tmp]
    dest: /etc/apparmor.d/llmsec-ollama
  register: ollama_apparmor

- name: Run the container with it where AppArmor is active
  community.docker.docker_container:
    name: ollama
    image: ollama/ollama@sha256:...
    security_opts:
      - "apparmor={{ 'llmsec-ollama' if ollama_apparmor.active else 'docker-default' }}"
"""

RETURN = r"""
profile:
  description: The profile's text.
  returned: always
  type: str
active:
  description: Whether AppArmor is active on the host (a profile can be loaded and enforced).
  returned: always
  type: bool
reason:
  description: Why AppArmor is not active (empty when it is).
  returned: always
  type: str
loaded:
  description: Whether the kernel lists the profile in enforce mode after the task (false in check mode when it was not).
  returned: always
  type: bool
validated:
  description: The apparmor_parser version that compiled the profile (empty in check mode before it is installed).
  returned: always
  type: str
dest:
  description: The file written.
  returned: always
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.llmsec.hardening.plugins.module_utils import apparmor
from ansible_collections.llmsec.hardening.plugins.module_utils.files import write_file


def compile_check(module, parser, text):
    """Compile the profile without loading it; fail with the parser's words on an error."""
    fd, path = tempfile.mkstemp(prefix="llmsec-apparmor-", suffix=".profile")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        rc, out, err = module.run_command([parser, "-Q", "-K", "-T", path])
    finally:
        os.unlink(path)
    if rc != 0:
        module.fail_json(msg="apparmor_parser rejects the generated profile: %s" % (err or out).strip(),
                         profile=text)


def kernel_mode(state, name):
    try:
        with open(state["profiles_path"], encoding="utf-8") as handle:
            return apparmor.loaded_mode(handle.read(), name)
    except OSError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            exec=dict(type="list", elements="str", default=list(apparmor.DEFAULT_EXEC)),
            models=dict(type="str"),
            models_writable=dict(type="bool", default=False),
            state=dict(type="list", elements="str", default=[]),
            read=dict(type="list", elements="str", default=[]),
            capabilities=dict(type="list", elements="str", default=[]),
            gpus=dict(type="bool", default=False),
            dest=dict(type="path", required=True),
            load=dict(type="bool", default=True),
            require_active=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    params = module.params
    try:
        text = apparmor.build_profile(
            params["name"], exec_paths=params["exec"], models=params["models"],
            models_writable=params["models_writable"], state=params["state"], read=params["read"],
            capabilities=params["capabilities"], gpus=params["gpus"])
    except apparmor.AppArmorError as exc:
        module.fail_json(msg=to_native(exc))

    dest = params["dest"]
    state = apparmor.host_state()
    if params["require_active"] and not state["enabled"]:
        module.fail_json(msg="AppArmor is required but not active on this host: %s; nothing was written"
                         % state["reason"], active=False, reason=state["reason"])
    parser = module.get_bin_path("apparmor_parser")
    if not parser and module.check_mode:
        # A fresh host in check mode: the package that brings the parser is not installed yet.
        module.warn("apparmor_parser is not installed yet: the profile was not compiled")
        version = ""
    elif not parser:
        module.fail_json(msg="apparmor_parser is not installed on this host (Debian and Ubuntu: the apparmor "
                         "package); the profile for %s was not written" % dest)
    else:
        dummy, version, dummy2 = module.run_command([parser, "--version"])
        compile_check(module, parser, text)

    before = None
    if os.path.exists(dest):
        with open(dest, encoding="utf-8", errors="replace") as handle:
            before = handle.read()
        if not apparmor.is_generated(before):
            module.fail_json(msg="dest: %s exists and was not written by llmsec.hardening; move it away or "
                             "choose another name (it was left as it is)" % dest)
    result = dict(changed=before != text, profile=text, active=state["enabled"], reason=state["reason"],
                  loaded=False, validated=(version.splitlines() or [""])[0].strip(), dest=dest)
    if result["changed"] and module._diff:
        result["diff"] = dict(before=before or "", after=text, before_header=dest, after_header=dest)
    if result["changed"] and not module.check_mode:
        write_file(module, dest, text, 0o644)

    if state["enabled"] and params["load"]:
        mode = kernel_mode(state, params["name"])
        if (result["changed"] or mode != "enforce") and parser:
            result["changed"] = True
            if not module.check_mode:
                rc, out, err = module.run_command([parser, "-r", "-W", "-T", dest])
                if rc != 0:
                    module.fail_json(msg="apparmor_parser could not load %s: %s" % (dest, (err or out).strip()),
                                     **result)
                mode = kernel_mode(state, params["name"])
        result["loaded"] = mode == "enforce"
        if not module.check_mode and not result["loaded"]:
            module.fail_json(msg="%s was loaded but the kernel lists it as %s, not enforce"
                             % (params["name"], mode), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
