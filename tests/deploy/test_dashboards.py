"""deploy/grafana and deploy/prometheus: the dashboard and the alerting rules are
well formed, every query is valid PromQL (promtool), and every metric name they
use is one a real Dockyard server exports.

Names come from the queries' syntax trees (promql-parser, a maintained PromQL
parser), never from a regular expression over the text, so functions, label
names, `by (...)` lists, keywords and range selectors are never taken for
metric names. What the server exports comes from scraping a real server (both
topologies of the `server` fixture) after some traffic: a push, a pull, a
miss, a garbage-collection dry run. A family's sample names follow from its
type (a counter `x` is scraped as `x_total`, a histogram as `x_bucket`,
`x_sum`, `x_count`), so `x_bucket` of a counter is as wrong as an unknown name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import promql_parser
import pytest
import yaml
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from tests.spec.helpers import push_image
from tests.support.kustomize import Renderer, pinned_kustomize, pinned_version
from tests.support.server import RunningServer
from tests.support.servicemonitor_schema import DURATION

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "dockyard.json"
ALERTS = REPO / "deploy" / "prometheus" / "dockyard-alerts.yaml"
RULE_COMPONENT = REPO / "deploy" / "kubernetes" / "components" / "prometheus-rules"
OPERATIONS = REPO / "docs" / "operations.md"

# Series the dashboard uses that this build of Dockyard does not export yet: each
# is being added by work in progress elsewhere. Remove a name here when its series
# lands; from then on it is checked against the scrape like every other (and this
# test fails while a name that the server does export is still listed here).
NOT_YET_EXPORTED: frozenset[str] = frozenset()

# Not Dockyard's: Prometheus itself records `up` for every target it scrapes.
SCRAPE_SERIES = frozenset({"up"})

# Grafana's interval variables stand where PromQL wants a duration.
GRAFANA_DURATIONS = re.compile(
    r"\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}"
)
LABEL_VALUES = re.compile(r"^label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\)$")
SEVERITIES = {"critical", "warning", "info"}

# The suffixes each type's samples carry, as Prometheus scrapes them. `_created`
# is left out: it is optional (Dockyard turns it off), so it counts only when a
# scraped sample has it.
SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
}


# -- reading the artefacts --------------------------------------------------------


def load_dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def load_alerts() -> dict[str, Any]:
    data = yaml.safe_load(ALERTS.read_text())
    assert isinstance(data, dict)
    return data


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and those inside collapsed rows."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in all_panels(dashboard) if p["type"] != "row"]


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target."""
    return [
        (f"panel {p['id']} {p['title']!r} target {t['refId']}", t["expr"])
        for p in query_panels(dashboard)
        for t in p["targets"]
    ]


def variable_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL selector) of the query variables' label_values(...)."""
    found = []
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = LABEL_VALUES.match(query)
        assert m is not None and m.group("selector"), f"variable {var['name']}: {query!r}"
        found.append((f"variable {var['name']}", m.group("selector")))
    return found


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_alerts()["groups"] for rule in group["rules"]]


def as_promql(expr: str) -> str:
    """The query as Prometheus would receive it from Grafana (an interval is 5m here)."""
    return GRAFANA_DURATIONS.sub("5m", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names the query selects, from its syntax tree."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for m in node.matchers.matchers:
                if m.name == "__name__":
                    assert m.op == promql_parser.MatchOp.Equal, f"{expr}: {m} matches many names"
                    names.add(m.value)
        return True

    promql_parser.walk(promql_parser.parse(as_promql(expr)), visit)
    return names


def every_query() -> list[tuple[str, str]]:
    dashboard = load_dashboard()
    rules = [(f"alert {r['alert']}", str(r["expr"])) for r in alert_rules()]
    return dashboard_queries(dashboard) + variable_queries(dashboard) + rules


# -- the dashboard ------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = load_dashboard()
    assert dashboard["title"] and dashboard["uid"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    assert 'job=~"$job"' in variables["instance"]["query"]["query"]


def test_panel_ids_are_unique() -> None:
    ids = [p["id"] for p in all_panels(load_dashboard())]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_panel_queries_the_chosen_datasource() -> None:
    panels = query_panels(load_dashboard())
    assert len(panels) >= 20
    for p in panels:
        where = f"panel {p['id']} {p.get('title')!r}"
        assert p.get("title"), where
        assert p.get("datasource") == {"type": "prometheus", "uid": "${datasource}"}, where
        assert p.get("targets"), f"{where}: no target"
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), where
        for t in p["targets"]:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where}: empty expr"
            assert t.get("datasource", p["datasource"]) == p["datasource"], where
            # every panel follows the job/instance pickers
            assert '"$job"' in t["expr"], f"{where}: {t['expr']} ignores $job"


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], int] = {}
    for p in load_dashboard()["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, p["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{p['title']!r} overlaps panel {taken[(x, y)]}"
                taken[(x, y)] = p["id"]


def test_dashboard_has_the_sections() -> None:
    rows = {p["title"] for p in load_dashboard()["panels"] if p["type"] == "row"}
    assert {
        "HTTP traffic",
        "Latency",
        "Errors",
        "Storage",
        "Deduplication",
        "Garbage collection",
        "Background jobs",
        "Manifest cache",
        "Uploads",
        "Database pool",
        "Replication",
    } <= rows
    # P2P exports no series yet: no panel pretends otherwise (docs/operations.md)
    titles = " ".join(p["title"] for p in all_panels(load_dashboard()))
    assert "p2p" not in titles.lower()


def test_latency_percentiles_come_from_the_histogram() -> None:
    exprs = [e for _, e in dashboard_queries(load_dashboard())]
    for quantile in ("0.50", "0.95", "0.99"):
        assert any(
            e.startswith(f"histogram_quantile({quantile},")
            and "rate(dockyard_http_request_duration_seconds_bucket{" in e
            for e in exprs
        ), quantile


# -- the alerting rules ---------------------------------------------------------------


def _headings(markdown: str) -> set[str]:
    """GitHub's anchors of the Markdown file's headings."""
    anchors = set()
    for line in markdown.splitlines():
        if m := re.match(r"^#{1,6}\s+(.*)$", line):
            text = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_alert_rules_are_complete() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    anchors = _headings(OPERATIONS.read_text())
    for rule in rules:
        name = rule["alert"]
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, name
        assert str(rule["expr"]).strip() and re.fullmatch(r"\d+[smh]", rule["for"]), name
        assert rule["labels"]["severity"] in SEVERITIES, name
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], name
        doc, _, anchor = notes["runbook_url"].partition("#")
        assert doc == "docs/operations.md" and anchor in anchors, f"{name}: {notes['runbook_url']}"
    assert {
        "DockyardInstanceDown",
        "DockyardHigh5xxRatio",
        "DockyardP99LatencyHigh",
        "DockyardJobQueueBacklog",
        "DockyardJobsFailing",
        "DockyardGCFailing",
        "DockyardReplicationRetrying",
        "DockyardReplicationItemsFailing",
        "DockyardStorageErrors",
        "DockyardAuditEntriesLost",
        "DockyardDBPoolExhausted",
    } <= set(names)


# A strict schema for the PrometheusRule fields the component uses, after
# prometheus-operator's PrometheusRule CRD (monitoring.coreos.com/v1): an unknown
# field fails, as in tests/support/servicemonitor_schema.py.
_DURATION = DURATION
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
PROMETHEUSRULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["name"],
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": {"type": "string", "pattern": _DURATION},
                            "query_offset": {"type": "string", "pattern": _DURATION},
                            "limit": {"type": "integer"},
                            "labels": _STRING_MAP,
                            "partial_response_strategy": {"type": "string"},
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["expr"],
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "keep_firing_for": {"type": "string", "pattern": _DURATION},
                                        "labels": _STRING_MAP,
                                        "annotations": _STRING_MAP,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}


@pytest.fixture(scope="module")
def kustomize() -> Renderer:
    renderer = pinned_kustomize()
    if renderer is None:
        message = f"kustomize {pinned_version()} is not installed: run scripts/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing renderer is a broken setup
        pytest.skip(message)
    return renderer


def test_prometheusrule_component_carries_the_same_rules(
    kustomize: Renderer, tmp_path: Path
) -> None:
    """An overlay that adds the component (as docs/kubernetes.md says) renders one
    valid PrometheusRule whose groups are deploy/prometheus/dockyard-alerts.yaml's."""
    deploy = Path(os.path.relpath(REPO / "deploy" / "kubernetes", tmp_path))
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "dockyard",
                "resources": [str(deploy / "overlays" / "production")],
                "components": [str(deploy / "components" / "prometheus-rules")],
            }
        )
    )
    objects = kustomize.build(tmp_path)
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    assert len(rules) == 1, rules
    rule = rules[0]
    jsonschema.validate(rule, PROMETHEUSRULE_SCHEMA)
    assert rule["metadata"]["namespace"] == "dockyard"
    assert rule["metadata"]["labels"]["app.kubernetes.io/name"] == "dockyard"
    assert rule["spec"]["groups"] == load_alerts()["groups"]
    # the component adds only the rule: the overlay's own objects are unchanged
    alone = kustomize.build(REPO / "deploy" / "kubernetes" / "overlays" / "production")
    assert len(objects) == len(alone) + 1


# -- PromQL: parsed, and checked by promtool -------------------------------------------


def test_metric_names_come_from_the_syntax_tree() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_seconds_bucket{job=~"$job", '
        'route!~"/v2/.*"}[$__rate_interval]))) / ignoring(result) group_left '
        'sum without (instance) (b_total offset 1h) and on (job) {__name__="c"} '
        "unless absent(d) > bool 0"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "c", "d"}
    with pytest.raises(ValueError):
        metric_names("sum(rate(x[5m])")


@pytest.mark.parametrize(("where", "expr"), every_query(), ids=lambda v: str(v)[:60])
def test_every_query_parses_and_names_a_metric(where: str, expr: str) -> None:
    assert metric_names(expr), f"{where}: {expr} selects no metric"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool (Debian: prometheus) is not installed: run scripts/install-test-deps.sh"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing promtool is a broken setup
        pytest.skip(message)
    return found


def _check_rules(promtool: str, path: Path) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_alert_rules(promtool: str) -> None:
    _check_rules(promtool, ALERTS)


def test_promtool_accepts_the_dashboard_queries(promtool: str, tmp_path: Path) -> None:
    """promtool has no offline query check: the dashboard's queries go into a rules
    file as recording rules, which `promtool check rules` parses."""
    dashboard = load_dashboard()
    queries = dashboard_queries(dashboard) + variable_queries(dashboard)
    rules = [
        {"record": f"dockyard:dashboard_query_{i}", "expr": as_promql(expr)}
        for i, (_, expr) in enumerate(queries)
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    _check_rules(promtool, path)
    # and the check does catch a broken query
    rules.append({"record": "dockyard:broken", "expr": "sum(rate(dockyard_jobs[5m])"})
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    with pytest.raises(AssertionError):
        _check_rules(promtool, path)


# -- every name is one the server exports ---------------------------------------------------


def exported_names(exposition: str) -> set[str]:
    """The sample names a scrape of this exposition gives Prometheus, by family type
    (so a family announced with no sample yet counts too)."""
    return {n for f in text_string_to_metric_families(exposition) for n in exported_names_of(f)}


def exported_names_of(family: Metric) -> set[str]:
    names = {family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",))}
    return names | {s.name for s in family.samples}


def _scrape(server: RunningServer) -> str:
    r = httpx.get(f"{server.url}/metrics", timeout=30)
    assert r.status_code == 200
    return r.text


def _traffic(server: RunningServer) -> str:
    """A push, a pull (manifest and blob), a miss and a GC dry run; returns the scrape
    once the GC run has been counted."""
    with server.client() as c:
        _, body = push_image(c, "dashboards/app", "v1")
        manifest = json.loads(body)
        accept = {"Accept": manifest["mediaType"]}
        assert c.get("/v2/dashboards/app/manifests/v1", headers=accept).status_code == 200
        layer = manifest["layers"][0]["digest"]
        assert c.get(f"/v2/dashboards/app/blobs/{layer}").status_code == 200
        assert c.get("/v2/dashboards/app/manifests/missing").status_code == 404
        r = c.post("/api/v1/gc", json={"dry_run": True}, auth=server.admin)
        assert r.status_code == 202, r.text
    # the run is counted when the worker that ran it ends it: wait for it in the scrape
    deadline = time.monotonic() + 60
    while True:
        text = _scrape(server)
        if 'kind="gc.run"' in text:
            return text
        assert time.monotonic() < deadline, "the gc.run job was never counted"
        time.sleep(0.1)  # polling for the job's end, with a deadline


def test_every_metric_name_is_exported(server: RunningServer) -> None:
    exported = exported_names(_traffic(server))
    assert "dockyard_http_requests_total" in exported  # the scrape was read

    still_listed = NOT_YET_EXPORTED & exported
    assert not still_listed, f"exported now: remove {sorted(still_listed)} from NOT_YET_EXPORTED"

    unknown = []
    for where, expr in every_query():
        for name in sorted(metric_names(expr) - exported - NOT_YET_EXPORTED - SCRAPE_SERIES):
            unknown.append(f"{where}: {name}")
    assert not unknown, "not exported by the server:\n" + "\n".join(unknown)


def test_the_dashboard_shows_every_dockyard_family(server: RunningServer) -> None:
    """Each dockyard_* family the server exports has a panel."""
    used = {name for _, expr in dashboard_queries(load_dashboard()) for name in metric_names(expr)}
    missing = [
        f.name
        for f in text_string_to_metric_families(_scrape(server))
        if f.name.startswith("dockyard_") and not exported_names_of(f) & used
    ]
    assert not missing, f"no panel shows {missing}"
