"""The Grafana dashboard in deploy/: valid for Grafana, a query on every panel, and every metric,
label and legend a query uses exported by a process, so a renamed metric fails here until the
dashboard follows (docs/dashboard.md)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from admin_api.metrics import AdminMetrics
from billing_batch.metrics import BatchMetrics
from engine.metrics import EngineMetrics
from loadtest import dashboard

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "dashboards" / "tarif.json"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# what PromQL calls, and the keywords that take a list of labels
FUNCTIONS = {"sum", "max", "min", "avg", "count", "rate", "increase", "histogram_quantile"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
WORD = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*)\b\s*(\{[^}]*\})?\s*(\()?")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


def exported() -> dict[str, set[str]]:
    """Every series name the processes expose, with its labels (as Prometheus scrapes it)."""
    registry = CollectorRegistry()
    metrics = [
        *vars(EngineMetrics(registry)).values(),
        *vars(BatchMetrics(registry)).values(),
        *vars(AdminMetrics(registry)).values(),
    ]
    series: dict[str, set[str]] = {}
    for metric in metrics:
        name, labels = metric._name, set(metric._labelnames)  # no public accessor for these
        if metric._type == "counter":
            series[f"{name}_total"] = labels
        elif metric._type == "histogram":
            series |= {f"{name}_bucket": labels | {"le"}, f"{name}_sum": labels}
            series[f"{name}_count"] = labels
        else:
            series[name] = labels
    return series


def parse(expr: str) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """The selectors of a query (metric, labels matched) and the labels it groups by."""
    text = re.sub(r'"[^"]*"', '""', expr)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    grouped: set[str] = set()
    for match in GROUPING.finditer(text):
        grouped |= {label.strip() for label in match.group(2).split(",") if label.strip()}
    text = GROUPING.sub(" ", text)
    selectors = []
    for name, matchers, call in WORD.findall(text):
        if call:
            assert name in FUNCTIONS, (name, expr)
        else:
            selectors.append((name, set(MATCHER.findall(matchers))))
    return selectors, grouped


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def graphs() -> list[dict[str, Any]]:
    return [p for p in document()["panels"] if p["type"] != "row"]


def test_the_dashboard_is_one_grafana_can_import() -> None:
    doc = document()
    assert doc["schemaVersion"] >= 36
    assert doc["uid"]
    assert doc["title"]
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in doc["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_every_panel_has_queries_on_the_prometheus_variable() -> None:
    for panel in graphs():
        assert panel["type"] == "timeseries", panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["description"], panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]
            assert target["expr"].count("(") == target["expr"].count(")"), panel["title"]


def test_queries_name_only_exported_metrics_and_labels() -> None:
    series = exported()
    for panel in graphs():
        for target in panel["targets"]:
            where = (panel["title"], target["refId"])
            selectors, grouped = parse(target["expr"])
            assert selectors, where
            available: set[str] = set()
            for name, matched in selectors:
                assert name in series, (*where, f"{name} is exported by no process")
                assert matched <= series[name], (*where, name, matched - series[name])
                available |= series[name]
            assert grouped <= available, (*where, grouped - available)
            # a legend can only name the labels the aggregation keeps
            assert set(LEGEND.findall(target["legendFormat"])) <= grouped - {"le"}, where


def test_the_issue_s_panels_are_there() -> None:
    titles = " | ".join(p["title"] for p in graphs())
    for needed in (
        "Charging requests by RPC and result",
        "latency p99 by RPC",
        "latency p50 by RPC",
        "Redis script time",
        "Reserved units",
        "Ingestion lag",
        "Job runs by type and status",
        "Notification deliveries by channel and outcome",
    ):
        assert needed in titles, needed


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian: prometheus)")
def test_promtool_parses_every_query(tmp_path: Path) -> None:
    """Each query as a recording rule: `promtool check rules` parses the PromQL for real."""
    rules = [
        {
            "record": f"tarif:panel{panel['id']}:{target['refId']}",
            "expr": target["expr"].replace("$__rate_interval", "1m"),
        }
        for panel in graphs()
        for target in panel["targets"]
    ]
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_render_script_reads_the_same_queries() -> None:
    panels = dashboard.load(DASHBOARD)
    assert [p.id for p in panels] == sorted(p["id"] for p in graphs())
    assert len({p.slug for p in panels}) == len(panels)
    assert all(p.section for p in panels)
    by_id = {p["id"]: p for p in graphs()}
    for panel in panels:
        assert [t.expr for t in panel.targets] == [t["expr"] for t in by_id[panel.id]["targets"]]
        for target in panel.targets:
            assert "$__" not in target.promql("10s", "120s")


def test_legends_are_filled_from_the_series_labels() -> None:
    target = dashboard.Target("A", "x", "{{rpc}} {{result}}")
    assert target.label({"rpc": "ChargeEvent", "result": "SUCCESS"}) == "ChargeEvent SUCCESS"
    assert dashboard.Target("A", "x", "").label({"a": "1"}) == '{a="1"}'


def test_a_panel_and_the_dashboard_are_drawn_from_series(tmp_path: Path) -> None:
    from loadtest import dashboard_render as render

    panels = dashboard.load(DASHBOARD)
    times = [1_800_000_000.0 + 2 * i for i in range(30)]
    series = [render.Series("ChargeEvent", times, [0.002 + i / 10_000 for i in range(30)])]
    render.panel_png(panels[0], series, tmp_path / "one.png")
    render.dashboard_png([(p, series) for p in panels], "Tarif", tmp_path / "all.png")
    for name in ("one.png", "all.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    assert render._scaled(0.0025, "s") == "2.5 ms"
    assert render._scaled(0.025, "percentunit") == "2.5%"
    assert render._scaled(1500, "reqps") == "1.5k req/s"
