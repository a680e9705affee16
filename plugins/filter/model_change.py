# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/model_change.yml's checks and its window file. Logic in module_utils/change_window.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.module_utils import change_window


def model_change_errors(settings):
    """One message per broken rule, each naming its variable; empty when the settings are sound."""
    return change_window.settings_errors(settings)


def model_change_window(change, opened_by, minutes, now=None):
    """The window file's text for a window opened now (or at now) for minutes."""
    try:
        return change_window.render(change, opened_by, int(minutes), now)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(str(exc))


def model_change_failures(results):
    """One line per request of a uri loop that did not succeed (item, status, error)."""
    return change_window.request_failures(results)


class FilterModule(object):
    def filters(self):
        return {"model_change_errors": model_change_errors, "model_change_window": model_change_window,
                "model_change_failures": model_change_failures}
