#!/usr/bin/python
# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ufw_rules
short_description: Make ufw's managed rules exactly the listed ones
version_added: 0.1.0
description:
  - ufw does not track who added a rule, so removing a rule task from a play leaves the port open.
    This module marks each rule it adds with a comment C(llmsec:<name>:<hash>), and on every run
    removes the marked rules that are no longer listed and adds the missing ones.
  - Rules without the mark are left alone unless O(purge_unmanaged=true).
  - Deny and reject rules are inserted first, so that an older allow rule cannot shadow them.
  - Rules are expected in the form that the C(llmsec.hardening.firewall_rules) filter returns.
  - Works whether ufw is enabled or not; it does not enable ufw.
seealso:
  - plugin: llmsec.hardening.firewall_rules
    plugin_type: filter
  - plugin: llmsec.hardening.firewall_lockout_errors
    plugin_type: filter
author:
  - llmsec.hardening contributors (@llmsec)
extends_documentation_fragment:
  - llmsec.hardening.attributes
  - llmsec.hardening.attributes.full
options:
  rules:
    description: The managed rules, each with C(id), C(action), C(port), C(proto) and C(source).
    type: list
    elements: dict
    required: true
  purge_unmanaged:
    description: Also delete rules that this module did not add.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Apply the managed rule set
  llmsec.hardening.ufw_rules:
    rules: "{{ firewall_plan.rules }}"
    purge_unmanaged: false
"""

RETURN = r"""
added:
  description: ufw commands run (or that would run, in check mode) to add rules.
  returned: always
  type: list
  elements: str
  sample: ["ufw limit from any to any port 22 proto tcp comment llmsec:ssh:1a2b3c4d"]
deleted:
  description: ufw rules deleted (or that would be), as C(ufw show added) printed them.
  returned: always
  type: list
  elements: str
kept:
  description: Comments of the managed rules that were already in place.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.llmsec.hardening.plugins.module_utils import firewall

REQUIRED_KEYS = ("id", "action", "port", "proto", "source")


def show_added(module, ufw):
    rc, out, err = module.run_command([ufw, "show", "added"])
    if rc != 0:
        module.fail_json(msg="'ufw show added' failed: %s" % (err.strip() or out.strip()))
    return firewall.parse_ufw_added(out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rules=dict(type="list", elements="dict", required=True),
            purge_unmanaged=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    rules = module.params["rules"]
    for index, rule in enumerate(rules):
        missing = [key for key in REQUIRED_KEYS if key not in rule]
        if missing or rule.get("action") not in firewall.ACTIONS:
            module.fail_json(msg="rules[%d] is not a rule from the firewall_rules filter (missing %s, action %r)"
                             % (index, ", ".join(missing) or "nothing", rule.get("action")))
    ufw = module.get_bin_path("ufw", required=True)
    existing = show_added(module, ufw)
    plan = firewall.plan_ufw(existing, rules, module.params["purge_unmanaged"])
    result = dict(changed=bool(plan["delete"] or plan["add"]), kept=plan["kept"],
                  deleted=[entry["line"] for entry in plan["delete"]], added=[])
    before = "\n".join(entry["line"] for entry in existing) + "\n"

    has_rules = len(existing) > len(plan["delete"])
    commands = []
    for rule in plan["add"]:
        args = firewall.ufw_command(rule)
        if rule["action"] in ("deny", "reject") and has_rules:
            args = ["insert", "1"] + args
        commands.append(args)
        has_rules = True
    result["added"] = ["ufw " + " ".join(args) for args in commands]

    if not module.check_mode:
        for entry in plan["delete"]:
            args = entry["args"]
            if "comment" in args:  # ufw matches the rule itself; the comment is not part of it
                args = args[:args.index("comment")]
            rc, out, err = module.run_command([ufw, "delete"] + args)
            if rc != 0:
                module.fail_json(msg="could not delete '%s': %s" % (entry["line"], err.strip() or out.strip()),
                                 **result)
        for args in commands:
            rc, out, err = module.run_command([ufw] + args)
            if rc != 0:
                module.fail_json(msg="'ufw %s' failed: %s" % (" ".join(args), err.strip() or out.strip()), **result)
        after = "\n".join(entry["line"] for entry in show_added(module, ufw)) + "\n"
    else:
        after = "\n".join([entry["line"] for entry in existing if entry not in plan["delete"]]
                          + result["added"]) + "\n"
    if module._diff and result["changed"]:
        result["diff"] = dict(before_header="ufw show added", after_header="ufw show added",
                              before=before, after=after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
