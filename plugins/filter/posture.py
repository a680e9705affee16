# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of playbooks/audit.yml. The logic is in module_utils/posture.py."""

from __future__ import annotations

from ansible_collections.llmsec.hardening.plugins.module_utils import posture


def _plain(value):
    """Ansible's tagged containers as plain dicts and lists."""
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def posture_report(hostvars, hosts, generated_at):
    """The fleet report from what audit.yml registered on each host
    (llmsec_audit_local_ai, llmsec_audit_models)."""
    data = []
    for host in hosts:
        values = hostvars[host]
        local_ai = values.get("llmsec_audit_local_ai")
        models = values.get("llmsec_audit_models")
        reachable = bool(local_ai) and not local_ai.get("failed") and not local_ai.get("unreachable")
        entry = {"host": host, "reachable": reachable,
                 "local_ai": _plain(local_ai) if reachable else None,
                 "models": _plain(models) if models and not models.get("skipped") else None}
        if not reachable:
            entry["error"] = (local_ai or {}).get("msg") or "not reachable, or local_ai_facts did not run"
        data.append(entry)
    return posture.build_report(data, generated_at)


def posture_report_from_prometheus(results, hosts, generated_at):
    """The fleet report from the central Prometheus's answers ({query: result vector}) for these hosts."""
    return posture.build_report(posture.hosts_from_metrics(list(hosts), _plain(results)), generated_at)


class FilterModule(object):
    def filters(self):
        return {"posture_report": posture_report, "posture_report_from_prometheus": posture_report_from_prometheus, "posture_markdown": posture.to_markdown,
                "posture_junit": posture.to_junit}
