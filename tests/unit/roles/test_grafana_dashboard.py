"""The monitoring role's Grafana dashboard against the dashboard JSON model.

Grafana is not in Debian's archive and its schema is not published as a file
we can fetch here, so this is the part of the JSON model (schemaVersion 39)
that Grafana needs to import a dashboard, written from its documentation.
Every query is parsed by promtool in the monitoring scenario.
"""

import json
import os

import jsonschema

from grafana_queries import dashboard_queries

from ansible_collections.llmsec.hardening.plugins.filter.monitoring import duration_seconds

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
DASHBOARD = os.path.join(ROOT, "roles", "monitoring", "files", "grafana", "llmsec-local-ai.json")
DATASOURCE = {"type": "object", "required": ["type", "uid"],
              "properties": {"type": {"const": "prometheus"}, "uid": {"type": "string"}}}
SCHEMA = {
    "type": "object",
    "required": ["title", "uid", "schemaVersion", "panels", "time", "templating"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "refresh": {"type": "string"},
        "time": {"type": "object", "required": ["from", "to"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "templating": {"type": "object", "required": ["list"], "properties": {"list": {"type": "array", "items": {
            "type": "object", "required": ["name", "type"],
            "properties": {"type": {"enum": ["query", "datasource", "custom", "interval", "constant", "textbox"]}}}}}},
        "panels": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["id", "type", "title", "gridPos", "targets", "datasource"],
            "properties": {
                "id": {"type": "integer"},
                "type": {"enum": ["timeseries", "stat", "table", "gauge", "bargauge", "text", "row"]},
                "title": {"type": "string", "minLength": 1},
                "datasource": DATASOURCE,
                "gridPos": {"type": "object", "required": ["x", "y", "w", "h"], "additionalProperties": False,
                            "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 23},
                                           "y": {"type": "integer", "minimum": 0},
                                           "w": {"type": "integer", "minimum": 1, "maximum": 24},
                                           "h": {"type": "integer", "minimum": 1}}},
                "targets": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["refId", "expr", "datasource"],
                    "properties": {"refId": {"type": "string", "pattern": "^[A-Z]$"},
                                   "expr": {"type": "string", "minLength": 1}, "datasource": DATASOURCE}}},
            }}},
    },
}


def load():
    with open(DASHBOARD) as handle:
        return json.load(handle)


def test_dashboard_follows_the_json_model():
    dashboard = load()
    jsonschema.validate(dashboard, SCHEMA)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]


def test_dashboard_shows_requests_tokens_errors_latency_models_findings():
    text = json.dumps(load())
    for metric in ("llmsec_gateway_requests_total", "llmsec_gateway_llm_tokens_total",
                   "llmsec_gateway_auth_failures_total", "llmsec_gateway_request_duration_seconds_bucket",
                   "llmsec_model_integrity_ok", "llmsec_local_ai_findings", "llmsec_local_ai_models_open"):
        assert metric in text, metric


def test_queries_are_extracted():
    queries = dashboard_queries(load())
    assert len(queries) >= 15 and "up" in queries
    assert all("$" not in query or "$instance" in query for query in queries)


def test_durations():
    assert [duration_seconds(value) for value in ("15s", "5m", "2h", "1d")] == [15, 300, 7200, 86400]
