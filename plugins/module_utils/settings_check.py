# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the roles' controller-side checks share: one message per broken rule, each starting with
the variable's full name, and the number and size readings they all need.

Used by module_utils/container.py and module_utils/nginx_proxy.py. Pure Python, no Ansible imports.
"""

from __future__ import annotations

import re

# A size with an optional k, m or g suffix, as Docker's tmpfs and nginx read it (16m).
SIZE = re.compile(r"^[0-9]+[kmgKMG]?$")


def number(value, kind=int):
    """value as kind (int or float), or None when it is no such number; a boolean is no number."""
    if isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def truthy(value):
    """A boolean variable as Ansible may hand it over: a bool, or its text (true, yes, on, 1)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "yes", "on", "1")


class Refusals(object):
    """Collects the messages: check(ok, variable, rule) adds "<prefix><variable> <rule>" when not ok."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.messages = []

    def check(self, ok, variable, rule):
        if not ok:
            self.messages.append("%s%s %s" % (self.prefix, variable, rule))
