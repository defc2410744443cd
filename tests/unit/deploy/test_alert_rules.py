"""The Prometheus alert rules in deploy/: a rules file Prometheus loads, naming only metrics the
processes export, each alert with a severity and words for the person it pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from billing_batch.metrics import BatchMetrics
from engine.metrics import EngineMetrics

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yml"
# what the rules read: the engine's, the ingestors', the jobs' (scheduler and workers), the
# notifier's, and Prometheus' own `up`
RULE_METRICS = {
    "up",
    "tarif_engine_requests_total",
    "tarif_engine_request_seconds_bucket",
    "tarif_batch_stream_lag_seconds",
    "tarif_job_runs_total",
    "tarif_job_failed_items_total",
    "tarif_alerts_open",
    "tarif_notifier_deliveries_total",
    "tarif_notifier_waiting_deliveries",
}
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
FUNCTIONS = {"sum", "by", "increase", "and", "or", "on", "rate", "absent", "max", "min", "bool"}
FUNCTIONS |= {"histogram_quantile"}
LABELS = {"job_type", "channel", "rpc", "le", "ingestor"}


def words(expr: str) -> set[str]:
    """The names in a PromQL expression, outside label matchers, ranges and strings."""
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
    return set(re.findall(r"[a-z_][a-z0-9_]*", without_labels))


def exported() -> set[str]:
    registry = CollectorRegistry()
    BatchMetrics(registry)
    EngineMetrics(registry)
    names = {"up"}
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names |= {family.name + "_bucket", family.name + "_sum", family.name + "_count"}
    return names


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    found = []
    for group in document["groups"]:
        assert set(group) == {"name", "rules"}
        found.extend(group["rules"])
    return found


def test_every_rule_is_complete() -> None:
    found = rules()
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"Tarif[A-Z][A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        runbook = "docs/operations.md#" + rule["alert"].lower()
        assert rule["annotations"]["runbook"].startswith(runbook)
        assert DURATION.match(str(rule.get("for", "0s")))
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")")
        assert expr.count("{") == expr.count("}")


def test_rules_name_only_exported_metrics() -> None:
    known = exported()
    for rule in rules():
        names = words(rule["expr"])
        metrics = {w for w in names if w.startswith("tarif_") or w == "up"}
        assert metrics, rule["alert"]
        assert metrics <= known, (rule["alert"], metrics - known)
        labels_used = names - metrics - FUNCTIONS
        assert labels_used <= LABELS, (rule["alert"], labels_used)


def test_the_rules_read_the_metrics_listed_here() -> None:
    """The list above is what docs/operations.md and the dashboards rely on: a rule that
    reads another metric, or a listed one no rule reads any more, updates it."""
    read = set().union(*(words(rule["expr"]) for rule in rules())) & exported()
    assert read == RULE_METRICS
    assert exported() >= RULE_METRICS


def test_the_issue_s_failures_each_have_an_alert() -> None:
    exprs = " ".join(r["expr"] for r in rules())
    for needed in (
        "tarif_alerts_open",  # open alerts
        'tarif_job_runs_total{status="failed"}',  # failed runs
        "tarif_job_failed_items_total",  # failed items
        'outcome="dead"',  # dead deliveries
        'tarif_job_runs_total{status="succeeded"}[26h]',  # a job that has not run
        'up{job="tarif-engine"}',  # engine down
        'result=~"INTERNAL|UNAVAILABLE"',  # error rate
        "histogram_quantile(0.99",  # p99 latency
        "tarif_batch_stream_lag_seconds",  # ingestion lag
    ):
        assert needed in exprs, needed
