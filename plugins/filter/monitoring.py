# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the monitoring role."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value):
    """A Prometheus duration of one unit (30s, 5m, 1h, 2d) in seconds."""
    match = re.match(r"^([0-9]+)([smhd])$", str(value).strip())
    if not match:
        raise AnsibleFilterError("%r is not a duration like 30s, 5m, 1h or 2d" % (value,))
    return int(match.group(1)) * UNITS[match.group(2)]


class FilterModule(object):
    def filters(self):
        return {"duration_seconds": duration_seconds}
