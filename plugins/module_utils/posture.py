# Copyright (c) 2026, llmsec.hardening contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fleet posture report of playbooks/audit.yml: JSON, Markdown and JUnit XML.

Input: one entry per host with the local_ai_facts result and, where a model
store was checked, the model_checksum result. Pure Python, no Ansible.
"""

from __future__ import annotations

from xml.etree import ElementTree

SEVERITIES = ("critical", "high", "medium", "low", "info")
WEIGHTS = {"critical": 50, "high": 30, "medium": 10, "low": 3, "info": 0}
# What the report keeps of local_ai_facts' ai_activity (the ai_activity_audit consumer's counts).
ACTIVITY_KEYS = ("since", "error", "counts", "outside_window", "by_user", "last")
MODEL_KINDS = {"mismatched": "high", "missing": "high", "invalid": "high", "unapproved": "high"}


def model_findings(result):
    """model_checksum's lists as findings (severity, kind, model, path, message, fix)."""
    found = []
    for kind, severity in MODEL_KINDS.items():
        for entry in (result or {}).get(kind) or []:
            what = entry.get("model") or entry.get("path") or entry.get("digest") or "?"
            found.append({"kind": "model_" + kind, "severity": severity, "model": entry.get("model"),
                          "path": entry.get("path"),
                          "message": "model %s: %s%s" % (
                              what, kind, (" (" + entry["reason"] + ")") if entry.get("reason") else ""),
                          "fix": "restore it from a trusted source or review and approve it (model_integrity)"})
    return found


def hosts_from_metrics(hosts, results):
    """build_report's input from the central Prometheus (monitoring_server) instead of visits to the hosts.

    results: {query: [Prometheus instant-vector samples ({metric: {...}, value: [time, "v"]})]} for
    up{job="node"}, llmsec_local_ai_findings, llmsec_local_ai_servers and llmsec_model_integrity_findings, as
    the central Prometheus labels them (instance = the inventory name). A host the central Prometheus does not
    hear from is not audited; what it reports is the last scan's counts, not the processes and paths a visit
    finds (the report says so in each finding)."""
    def samples(name):
        out = {}
        for sample in results.get(name) or []:
            labels = sample.get("metric") or {}
            try:
                value = float(sample["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            out.setdefault(labels.get("instance"), []).append((labels, value))
        return out

    up, findings, servers, models = (samples(name) for name in (
        "up", "llmsec_local_ai_findings", "llmsec_local_ai_servers", "llmsec_model_integrity_findings"))
    data = []
    for host in hosts:
        if not any(value == 1 for _labels, value in up.get(host, [])):
            data.append({"host": host, "reachable": False,
                         "error": "the central Prometheus does not hear from it (down, or not a fleet host)"})
            continue
        found = []
        for labels, value in findings.get(host, []):
            if value > 0:
                found.append({"kind": labels.get("kind"), "severity": labels.get("severity", "info"),
                              "message": "%s: %d in the last scan (from the central Prometheus)" % (
                                  labels.get("kind"), int(value)),
                              "fix": "journalctl --namespace='*' -u llmsec-local-ai-scan on the host, or audit.yml "
                                     "visiting it, names the processes and paths"})
        listed = [{"kind": labels.get("kind"), "role": "server", "pid": "n/a", "listeners": [], "models": []}
                  for labels, value in servers.get(host, []) for _index in range(int(value))]
        model_counts = {labels.get("kind"): int(value) for labels, value in models.get(host, []) if value > 0}
        data.append({"host": host, "reachable": True, "local_ai": {"servers": listed, "findings": found},
                     "models": {kind: [{"model": "(%d, from the central Prometheus)" % count}]
                                for kind, count in model_counts.items() if kind in MODEL_KINDS}
                     if host in models else None})
    return data


def score(findings):
    return max(0, 100 - sum(WEIGHTS.get(item.get("severity"), 0) for item in findings))


def build_report(hosts, generated_at):
    """hosts: [{host, reachable, local_ai: {servers, findings, ai_activity}, models: model_checksum result or
    None}]."""
    entries = []
    totals = dict((severity, 0) for severity in SEVERITIES)
    for item in sorted(hosts, key=lambda entry: entry["host"]):
        if not item.get("reachable", True) or item.get("local_ai") is None:
            entries.append({"host": item["host"], "audited": False, "error": item.get("error") or "not reachable",
                            "servers": [], "findings": [], "score": None})
            continue
        findings = list(item["local_ai"].get("findings") or []) + model_findings(item.get("models"))
        findings.sort(key=lambda entry: SEVERITIES.index(entry.get("severity", "info")))
        for finding in findings:
            totals[finding.get("severity", "info")] += 1
        keys = ("kind", "pid", "user", "exe", "listeners", "unit", "container", "models")
        servers = [{key: server.get(key) for key in keys}
                   for server in item["local_ai"].get("servers") or [] if server.get("role", "server") == "server"]
        activity = item["local_ai"].get("ai_activity") or {}
        entries.append({"host": item["host"], "audited": True, "servers": servers, "findings": findings,
                        "models_checked": item.get("models") is not None, "score": score(findings),
                        "activity": dict((key, activity.get(key)) for key in ACTIVITY_KEYS)
                        if activity.get("present") else None})
    audited = [entry for entry in entries if entry["audited"]]
    watched = [entry["activity"] for entry in audited if entry["activity"]]
    activity_totals = {}
    for counts in watched:
        for key, value in (counts.get("counts") or {}).items():
            activity_totals[key] = activity_totals.get(key, 0) + value
    return {
        "generated_at": generated_at,
        "hosts": entries,
        "summary": {
            "hosts": len(entries), "audited": len(audited), "not_audited": len(entries) - len(audited),
            "servers": sum(len(entry["servers"]) for entry in audited),
            "findings": totals,
            "clean_hosts": sum(1 for entry in audited if not entry["findings"]),
            "fleet_score": min([entry["score"] for entry in audited] or [100]),
            "activity": {"hosts_watched": len(watched),
                         "hosts_with_events": sum(1 for counts in watched if counts.get("counts")),
                         "counts": activity_totals},
        },
    }


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _counts(counts):
    return ", ".join("%s %d" % (key, value) for key, value in sorted((counts or {}).items()))


def to_markdown(report):
    summary = report["summary"]
    lines = ["# Local AI posture report", "",
             "Generated %s. Hosts: %d, audited: %d, AI servers: %d; fleet score %d (the lowest host's)." % (
                 report["generated_at"], summary["hosts"], summary["audited"], summary["servers"],
                 summary["fleet_score"]),
             "",
             "| Severity | Findings |", "|---|---|"]
    lines += ["| %s | %d |" % (severity, summary["findings"][severity]) for severity in SEVERITIES]
    lines += ["", "| Host | Score | AI servers | Findings |", "|---|---|---|---|"]
    for entry in report["hosts"]:
        if not entry["audited"]:
            lines.append("| %s | - | - | not audited: %s |" % (_cell(entry["host"]), _cell(entry["error"])))
            continue
        servers = ", ".join("%s (pid %s, %s)" % (server["kind"], server["pid"], ", ".join(
            ("[%s]:%s" if ":" in listener["address"] else "%s:%s") % (listener["address"], listener["port"])
            for listener in server["listeners"]) or "no port")
            for server in entry["servers"]) or "none"
        counts = {}
        for finding in entry["findings"]:
            counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
        lines.append("| %s | %d | %s | %s |" % (_cell(entry["host"]), entry["score"], _cell(servers),
                                                ", ".join("%d %s" % (counts[s], s) for s in SEVERITIES if s in counts)
                                                or "clean"))
    watched = [entry for entry in report["hosts"] if entry.get("activity")]
    if watched:
        lines += ["", "## AI activity in the kernel's audit log", "",
                  "Events counted by ai_activity_audit since it was applied on %d of %d hosts (the alerts fire on "
                  "their growth; `ausearch -k <key> -i` on the host shows them)." % (
                      len(watched), summary["audited"]), "",
                  "| Host | Events by key | Outside a change window |", "|---|---|---|"]
        for entry in watched:
            activity = entry["activity"]
            lines.append("| %s | %s | %s |" % (
                _cell(entry["host"]), _cell(activity.get("error") or _counts(activity.get("counts")) or "none"),
                _cell(_counts(activity.get("outside_window")) or "none")))
    for entry in report["hosts"]:
        if entry["audited"] and entry["findings"]:
            lines += ["", "## %s" % entry["host"], ""]
            for finding in entry["findings"]:
                lines.append("- **%s** `%s`: %s. Fix: %s" % (
                    finding["severity"], finding["kind"], finding.get("message", ""), finding.get("fix", "")))
    return "\n".join(lines) + "\n"


def to_junit(report):
    """One testsuite per host, one testcase per check kind; a finding is a failure, an unreachable host an error."""
    checks = ("nonloopback_listener", "running_as_root", "writable_model", "wildcard_origins",
              "docker_published_ai_port", "unapproved_model_loaded", "model_mismatched", "model_missing",
              "model_invalid", "model_unapproved")
    suites = ElementTree.Element("testsuites", name="llmsec local AI posture")
    for entry in report["hosts"]:
        suite = ElementTree.SubElement(suites, "testsuite", name=entry["host"])
        failures = errors = 0
        if not entry["audited"]:
            case = ElementTree.SubElement(suite, "testcase", classname=entry["host"], name="audit")
            ElementTree.SubElement(case, "error", message=entry["error"])
            errors = 1
        else:
            for check in checks:
                case = ElementTree.SubElement(suite, "testcase", classname=entry["host"], name=check)
                hits = [finding for finding in entry["findings"] if finding["kind"] == check]
                if hits:
                    failures += 1
                    failure = ElementTree.SubElement(case, "failure", type=hits[0]["severity"],
                                                     message="; ".join(hit.get("message", "") for hit in hits))
                    failure.text = "\n".join("fix: %s" % hit.get("fix", "") for hit in hits)
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"
