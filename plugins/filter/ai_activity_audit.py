# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ai_activity_audit role's checks and rules file. Logic in module_utils/audit_rules.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.module_utils import audit_rules


def ai_activity_audit_errors(settings):
    """One message per broken rule, each naming its variable; empty when the settings are sound."""
    return audit_rules.settings_errors(settings)


def ai_activity_audit_rules(settings, uids):
    """The rules file's text for these settings and the servers' users' uids: {name: uid}, or {name: getent
    passwd row} as ansible.builtin.getent returns it (the uid is its second field)."""
    uids = dict((user, int(value[1] if isinstance(value, (list, tuple)) else value))
                for user, value in (uids or {}).items())
    errors = audit_rules.settings_errors(settings)
    missing = [user for user in settings.get("server_users") or [] if user not in uids]
    if missing:
        errors.append("no uid for %s" % ", ".join(missing))
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return audit_rules.render(settings, uids)


def ai_activity_audit_missing(rules_text, loaded):
    """The keys of the rules file's rules that the kernel lacks (auditctl -l's output), one per missing rule."""
    return audit_rules.missing(rules_text, loaded)


class FilterModule(object):
    def filters(self):
        return {"ai_activity_audit_errors": ai_activity_audit_errors,
                "ai_activity_audit_rules": ai_activity_audit_rules,
                "ai_activity_audit_missing": ai_activity_audit_missing}
