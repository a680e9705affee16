"""The PromQL queries of a Grafana dashboard, for the tests that parse them.

The monitoring scenario hands them to promtool on a host; the unit tests check
them against the metrics the collection exports.
"""

import re


def dashboard_queries(dashboard):
    """Every PromQL expression of a Grafana dashboard (panels, rows' panels, templating)."""
    exprs = []

    def panels(items):
        for panel in items or []:
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    exprs.append(target["expr"])
            panels(panel.get("panels"))
    panels(dashboard.get("panels"))
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        if variable.get("type") == "query" and query:
            exprs.append(re.sub(r"^label_values\((.*?)(,[^,()]*)?\)$", r"\1", query))
    return exprs
