# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A guard model's settings checked on the controller. Logic in module_utils/guard_model.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import guard_model


def guard_model_errors(settings, prefix="", model_name=None):
    """One message per broken setting, naming the caller's variable (prefix + key; model_name for the model)."""
    return guard_model.validate(settings, prefix, model_name)


class FilterModule(object):
    def filters(self):
        return {"guard_model_errors": guard_model_errors}
