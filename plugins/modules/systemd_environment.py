#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: systemd_environment
short_description: Make environment variables of a systemd service take effect, whatever else sets them
version_added: 0.1.0
description:
  - Writes a managed drop-in under C(/etc/systemd/system/<unit>.d/) that sets the given variables.
  - Finds every other place that sets the same variables for the unit, in the unit file, in every drop-in
    (C(systemctl edit) writes C(override.conf), which sorts after most names and so wins) and in every
    C(EnvironmentFile=), which overrides any drop-in.
  - Each such assignment with another value is a conflict. With O(conflicts=fix) it is taken out of its
    file (other assignments on the same line are kept, the file is backed up first); with
    O(conflicts=fail) the module fails before writing anything and names every file and line;
    with O(conflicts=report) they are returned and the drop-in is written anyway.
  - Does not reload systemd or restart the service; do that in a handler and then check
    C(systemctl show -p Environment).
seealso:
  - module: llmsec.hardening.systemd_sandbox
  - plugin: llmsec.hardening.systemd_environ
    plugin_type: filter
  - plugin: llmsec.hardening.ollama_host
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
  environment:
    description: Variables to set, as a mapping of name to value. An empty string sets the variable to empty.
    type: dict
    required: true
  dropin:
    description: File name of the managed drop-in.
    type: str
    default: 50-llmsec-hardening.conf
  owner:
    description: Written into the drop-in's header to say which role manages it.
    type: str
    default: llmsec.hardening
  conflicts:
    description: What to do about other assignments of the same variables with other values.
    type: str
    choices: [fix, fail, report]
    default: fix
  backup:
    description: Back up a file before taking a conflicting assignment out of it.
    type: bool
    default: true
notes:
  - A symlinked drop-in or environment file is never edited; a conflict in one makes the module fail.
"""

EXAMPLES = r"""
- name: Keep Ollama on loopback, whatever override.conf says
  llmsec.hardening.systemd_environment:
    unit: ollama
    environment:
      OLLAMA_HOST: "127.0.0.1:11434"
      OLLAMA_ORIGINS: ""
    conflicts: fix
  register: ollama_env
  notify: Restart ollama
"""

RETURN = r"""
dropin_path:
  description: Path of the managed drop-in.
  returned: always
  type: str
  sample: /etc/systemd/system/ollama.service.d/50-llmsec-hardening.conf
fragment_path:
  description: The unit file systemd loaded.
  returned: always
  type: str
  sample: /etc/systemd/system/ollama.service
conflicts:
  description: Assignments elsewhere that set a managed variable to another value (before any fix).
  returned: always
  type: list
  elements: dict
  sample: [{path: /etc/systemd/system/ollama.service.d/override.conf, line: 2, key: OLLAMA_HOST, value: 0.0.0.0}]
fixed_files:
  description: Files from which conflicting assignments were taken out (or would be, in check mode).
  returned: always
  type: list
  elements: str
backup_files:
  description: Backups made before fixing, one per fixed file.
  returned: always
  type: list
  elements: str
effective:
  description: The value each managed variable will have once systemd has reloaded.
  returned: always
  type: dict
  sample: {OLLAMA_HOST: "127.0.0.1:11434", OLLAMA_ORIGINS: ""}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_env
from ansible_collections.llmsec.hardening.plugins.module_utils.files import write_file


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            environment=dict(type="dict", required=True),
            dropin=dict(type="str", default="50-llmsec-hardening.conf"),
            owner=dict(type="str", default="llmsec.hardening"),
            conflicts=dict(type="str", choices=["fix", "fail", "report"], default="fix"),
            backup=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C", SYSTEMD_PAGER="")
    params = module.params
    environment = dict((k, "" if v is None else v) for k, v in params["environment"].items())
    try:
        unit_name = systemd_env.unit_file_name(params["unit"])
        systemd_env.validate_environment(environment)
        own_path = systemd_env.dropin_path(unit_name, params["dropin"])
    except systemd_env.UnitEnvError as exc:
        module.fail_json(msg=to_native(exc))

    props = systemd_env.systemctl_show(module, unit_name, ["FragmentPath", "DropInPaths", "EnvironmentFiles"])

    keys = set(environment)
    own_before = systemd_env.read_text(own_path)
    own_after = systemd_env.render_dropin(environment, params["owner"])

    fragment = props.get("FragmentPath", "")
    ordered = systemd_env.applied_dropins(unit_name, props.get("DropInPaths", ""), own_path)
    unit_texts = {}
    for path in ([fragment] if fragment else []) + ordered:
        unit_texts[path] = own_after if path == own_path else systemd_env.read_text(path)

    def scan_units(texts):
        found = []
        for path in ([fragment] if fragment else []) + ordered:
            if texts.get(path) is not None:
                found += systemd_env.scan_unit_text(path, texts[path])
        return found

    unit_sources = scan_units(unit_texts)
    env_paths = []
    for entry in unit_sources:
        if entry["directive"] == "EnvironmentFile":
            for word in systemd_env.split_words(entry["value"]):
                path = systemd_env.env_file_path(word)[0]
                if path and path not in env_paths:
                    env_paths.append(path)
    for item in props.get("EnvironmentFiles", "").split(" ("):
        path = item.split(")")[-1].strip()
        if path.startswith("/") and path not in env_paths:
            env_paths.append(path)
    env_texts = dict((path, systemd_env.read_text(path)) for path in env_paths)

    def scan_env(texts):
        found = []
        for path in env_paths:
            if texts.get(path) is not None:
                found += systemd_env.scan_env_file_text(path, texts[path])
        return found

    hits = systemd_env.find_assignments(unit_sources + scan_env(env_texts), keys)
    conflicts = systemd_env.conflicts_for(hits, environment, own_path)
    result = dict(changed=False, dropin_path=own_path, fragment_path=fragment, conflicts=conflicts,
                  fixed_files=[], backup_files=[], effective={})

    described = ["%s:%d sets %s=%s" % (c["path"], c["line"], c["key"], c["value"]) for c in conflicts]
    if conflicts and params["conflicts"] == "fail":
        module.fail_json(msg="other settings would override the managed values: %s" % "; ".join(described),
                         **result)
    symlinked = sorted(set(c["path"] for c in conflicts if os.path.islink(c["path"])))
    if symlinked and params["conflicts"] == "fix":
        module.fail_json(msg="conflicting settings are in symlinked files, which are not edited: %s"
                         % ", ".join(symlinked), **result)

    diffs = []
    if own_before != own_after:
        diffs.append(dict(before_header=own_path, after_header=own_path,
                          before=own_before or "", after=own_after))
    if params["conflicts"] == "fix":
        for path in sorted(set(c["path"] for c in conflicts)):
            mine = [c for c in conflicts if c["path"] == path]
            is_unit = path in unit_texts
            before = unit_texts[path] if is_unit else env_texts[path]
            after = systemd_env.remove_assignments(before, mine, "unit" if is_unit else "envfile")
            (unit_texts if is_unit else env_texts)[path] = after
            diffs.append(dict(before_header=path, after_header=path, before=before, after=after))
            result["fixed_files"].append(path)
            if not module.check_mode:
                if params["backup"]:
                    result["backup_files"].append(module.backup_local(path))
                mode = os.stat(path).st_mode & 0o7777
                write_file(module, path, after, mode)
    elif conflicts:
        module.warn("left in place (conflicts=report): %s" % "; ".join(described))

    if own_before != own_after and not module.check_mode:
        write_file(module, own_path, own_after, 0o644)

    result["effective"] = systemd_env.effective_values(scan_units(unit_texts), scan_env(env_texts), keys)
    result["changed"] = bool(diffs)
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
