# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Runs the jwt_token module and hides its output: a token is a credential.

A module cannot mark its own result no_log; an action plugin can.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        result.update(self._execute_module(module_name="llmsec.hardening.jwt_token",
                                           module_args=self._task.args, task_vars=task_vars))
        result["_ansible_no_log"] = True
        return result
