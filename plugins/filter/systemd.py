# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that read what systemd reports. The logic is in module_utils/systemd_env.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_env


def systemd_environ(value):
    """`systemctl show -p Environment` (which quotes some values) as a dict."""
    return systemd_env.parse_environment(value or "")


class FilterModule(object):
    def filters(self):
        return {"systemd_environ": systemd_environ}
