# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The container_hardening role's checks. Logic in module_utils/container.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import container


def container_hardening_errors(settings):
    """One message per broken rule, each naming its variable; empty when the settings are sound."""
    return container.settings_errors(settings)


class FilterModule(object):
    def filters(self):
        return {"container_hardening_errors": container_hardening_errors}
