# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters that read what systemd reports. The logic is in module_utils/systemd_env.py and systemd_sandbox.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.llmsec.hardening.plugins.module_utils import systemd_env, systemd_sandbox


def systemd_environ(value):
    """`systemctl show -p Environment` (which quotes some values) as a dict."""
    return systemd_env.parse_environment(value or "")


def systemd_exposure(value):
    """The overall exposure level (0.0-10.0) in `systemd-analyze security UNIT` output."""
    try:
        return systemd_sandbox.parse_exposure(value)
    except systemd_sandbox.SandboxError as exc:
        raise AnsibleFilterError(str(exc))


def proc_status(value):
    """/proc/PID/status as no_new_privs, seccomp (mode), cap_eff, cap_bnd and uid."""
    return systemd_sandbox.parse_proc_status(value)


def service_sandbox_errors(settings):
    """The service_sandbox role's checks, the module's own code: one message per broken rule."""
    return systemd_sandbox.settings_errors(settings)


class FilterModule(object):
    def filters(self):
        return {"systemd_environ": systemd_environ, "systemd_exposure": systemd_exposure,
                "proc_status": proc_status, "service_sandbox_errors": service_sandbox_errors}
