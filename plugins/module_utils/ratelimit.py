# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Roles copy this file to hosts: standard library only (tests/unit/plugins/module_utils/test_host_copied.py).
"""Token buckets per subject: requests per window and a budget of LLM tokens.

Time is passed in (monotonic seconds) so that the logic is tested without
sleeping. One bucket serves both uses:
- requests: take(1) must succeed before a request goes on;
- LLM tokens: the request goes on while the balance is positive; debit(n)
  reserves an estimate before it is forwarded (the balance may go negative,
  so the next request of that subject waits), settle() replaces it with what
  Ollama used; Retry-After says when the balance is positive again.
"""

from __future__ import annotations

import math
from collections import OrderedDict


class TokenBucket:
    __slots__ = ("rate", "capacity", "level", "stamp")

    def __init__(self, capacity, window, now):
        if capacity <= 0 or window <= 0:
            raise ValueError("capacity and window must be positive")
        self.capacity = float(capacity)
        self.rate = float(capacity) / float(window)
        self.level = float(capacity)
        self.stamp = now

    def _refill(self, now):
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def take(self, now, cost=1.0):
        """Take cost if the bucket holds it. Returns seconds to wait (0 when taken)."""
        self._refill(now)
        if self.level >= cost:
            self.level -= cost
            return 0.0
        return (cost - self.level) / self.rate

    def available(self, now):
        """Seconds until the balance is positive (0 when it is)."""
        self._refill(now)
        if self.level > 0:
            return 0.0
        return (1e-9 - self.level) / self.rate

    def debit(self, now, cost):
        """Charge cost after the fact; the balance may go negative."""
        self._refill(now)
        self.level -= cost

    def settle(self, now, reserved, actual):
        """Replace a reservation debited earlier with the actual cost (never above capacity)."""
        self._refill(now)
        self.level = min(self.capacity, self.level + reserved - actual)


class KeyedBuckets:
    """One bucket per key, the least recently used forgotten beyond max_keys.

    A forgotten key comes back with a full bucket, so max_keys must be well
    above the number of active subjects; a full bucket is also what an idle
    key would have refilled to.
    """

    def __init__(self, capacity, window, max_keys=100000):
        self.capacity = capacity
        self.window = window
        self.max_keys = max_keys
        self.buckets = OrderedDict()

    def get(self, key, now):
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.capacity, self.window, now)
            self.buckets[key] = bucket
            if len(self.buckets) > self.max_keys:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(key)
        return bucket


def retry_after_header(seconds):
    """Retry-After is whole seconds, at least 1."""
    return str(max(1, int(math.ceil(seconds))))
