"""The fleet posture report: JSON structure, Markdown and JUnit XML."""

from xml.etree import ElementTree

from ansible_collections.llmsec.hardening.plugins.module_utils import posture

EXPOSED = {"servers": [{"kind": "ollama", "pid": 7, "user": "ollama", "exe": "/usr/local/bin/ollama", "role": "server",
                        "listeners": [{"address": "0.0.0.0", "port": 11434}], "unit": "ollama.service",
                        "container": None, "models": []}],
           "findings": [{"kind": "nonloopback_listener", "severity": "high", "pid": 7, "address": "0.0.0.0:11434",
                         "message": "ollama (pid 7) listens on 0.0.0.0:11434, off loopback", "fix": "bind it"}]}
CLEAN = {"servers": [dict(EXPOSED["servers"][0], listeners=[{"address": "127.0.0.1", "port": 11434}])],
         "findings": []}
# ai1 runs ai_activity_audit and a shell was run by ollama; ai0 runs it with nothing counted; web2 does not run it.
ACTIVITY = {"path": "/var/lib/llmsec/ai-activity/state.json", "present": True, "error": None, "since": 1796300000,
            "counts": {"llmsec_ai_exec": 1, "llmsec_ai_connect": 2}, "outside_window": {"llmsec_ai_connect": 2},
            "by_user": {"llmsec_ai_exec": {"ollama": 1}, "llmsec_ai_connect": {"ollama": 2}}, "last": []}
QUIET = dict(ACTIVITY, counts={}, outside_window={}, by_user={})
MODELS = {"mismatched": [{"model": "tiny:1b", "digest": "sha256:ab", "path": "/m/blobs/x"}], "missing": [],
          "invalid": [], "unapproved": []}


def report():
    return posture.build_report([
        {"host": "web2", "local_ai": EXPOSED},
        {"host": "ai1", "local_ai": dict(CLEAN, ai_activity=ACTIVITY), "models": MODELS},
        {"host": "ai0", "local_ai": dict(CLEAN, ai_activity=QUIET), "models": {}},
        {"host": "down", "reachable": False, "error": "unreachable"},
    ], "2026-11-26T20:00:00+00:00")


def test_report_counts_and_scores():
    data = report()
    assert [entry["host"] for entry in data["hosts"]] == ["ai0", "ai1", "down", "web2"]
    by_host = {entry["host"]: entry for entry in data["hosts"]}
    assert by_host["ai0"]["findings"] == [] and by_host["ai0"]["score"] == 100
    assert by_host["ai1"]["findings"][0]["kind"] == "model_mismatched" and by_host["ai1"]["score"] == 70
    assert by_host["web2"]["score"] == 70 and by_host["down"]["audited"] is False
    assert data["summary"] == {"hosts": 4, "audited": 3, "not_audited": 1, "servers": 3,
                               "findings": {"critical": 0, "high": 2, "medium": 0, "low": 0, "info": 0},
                               "clean_hosts": 1, "fleet_score": 70,
                               "activity": {"hosts_watched": 2, "hosts_with_events": 1,
                                            "counts": {"llmsec_ai_exec": 1, "llmsec_ai_connect": 2}}}
    assert by_host["ai1"]["activity"]["counts"] == ACTIVITY["counts"] and "path" not in by_host["ai1"]["activity"]
    assert by_host["web2"]["activity"] is None


def test_markdown_lists_hosts_and_findings():
    text = posture.to_markdown(report())
    assert "| web2 | 70 | ollama (pid 7, 0.0.0.0:11434) | 1 high |" in text
    assert "| ai0 | 100 | ollama (pid 7, 127.0.0.1:11434) | clean |" in text
    assert "| down | - | - | not audited: unreachable |" in text
    assert "- **high** `nonloopback_listener`: ollama (pid 7) listens on 0.0.0.0:11434, off loopback. Fix: bind it" \
        in text
    assert "Events counted by ai_activity_audit since it was applied on 2 of 3 hosts" in text
    assert "| ai1 | llmsec_ai_connect 2, llmsec_ai_exec 1 | llmsec_ai_connect 2 |" in text
    assert "| ai0 | none | none |" in text and "| web2 | llmsec" not in text


def test_junit_marks_findings_as_failures():
    root = ElementTree.fromstring(posture.to_junit(report()).split("\n", 1)[1])
    suites = {suite.get("name"): suite for suite in root}
    assert suites["ai0"].get("failures") == "0" and int(suites["ai0"].get("tests")) == 10
    web2 = suites["web2"]
    assert web2.get("failures") == "1"
    failed = [case.get("name") for case in web2 if case.find("failure") is not None]
    assert failed == ["nonloopback_listener"]
    assert suites["down"].get("errors") == "1"
    assert [case.get("name") for case in suites["ai1"] if case.find("failure") is not None] == ["model_mismatched"]


def test_empty_fleet():
    data = posture.build_report([], "t")
    assert data["summary"]["fleet_score"] == 100 and posture.to_markdown(data).startswith("# Local AI posture")


def test_the_report_from_the_central_prometheus():
    def sample(value, **labels):
        return {"metric": labels, "value": [0, str(value)]}

    results = {
        "up": [sample(1, instance="ws-001", job="node"), sample(0, instance="ws-002", job="node")],
        "llmsec_local_ai_findings": [sample(1, instance="ws-001", kind="nonloopback_listener", severity="high"),
                                     sample(0, instance="ws-001", kind="debug_logging", severity="medium")],
        "llmsec_local_ai_servers": [sample(2, instance="ws-001", kind="ollama")],
        "llmsec_model_integrity_findings": [sample(1, instance="ws-001", kind="mismatched"),
                                            sample(0, instance="ws-001", kind="missing")],
    }
    report = posture.build_report(posture.hosts_from_metrics(["ws-001", "ws-002", "ws-003"], results), "now")
    first, second, third = report["hosts"]
    assert [finding["kind"] for finding in first["findings"]] == ["nonloopback_listener", "model_mismatched"]
    assert len(first["servers"]) == 2 and first["score"] == 40
    assert not second["audited"] and not third["audited"]
    assert report["summary"]["findings"]["high"] == 2 and report["summary"]["not_audited"] == 2
    assert "ollama (pid n/a, no port)" in posture.to_markdown(report) and posture.to_junit(report)
