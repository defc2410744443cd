"""The Prometheus alert rules in deploy/: a rules file Prometheus loads, naming only metrics the
processes export, each alert with a severity and words for the person it pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from billing_batch.metrics import BatchMetrics

RULES = Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "alerts.yml"
# the jobs' metrics (scheduler and workers) and Prometheus' own `up`
JOB_METRICS = {"tarif_job_runs_total", "tarif_job_failed_items_total", "tarif_alerts_open", "up"}
DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
FUNCTIONS = {"sum", "by", "increase", "and", "on", "rate", "absent", "max", "min"}


def exported() -> set[str]:
    registry = CollectorRegistry()
    BatchMetrics(registry)
    names = set()
    for family in registry.collect():
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
    return names | JOB_METRICS


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
        assert DURATION.match(str(rule.get("for", "0s")))
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")")
        assert expr.count("{") == expr.count("}")


def test_rules_name_only_exported_metrics() -> None:
    known = exported()
    for rule in rules():
        without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", rule["expr"])
        words = set(re.findall(r"[a-z_][a-z0-9_]*", without_labels))
        metrics = {w for w in words if w.startswith("tarif_") or w == "up"}
        assert metrics, rule["alert"]
        assert metrics <= known, (rule["alert"], metrics - known)
        labels_used = words - metrics - FUNCTIONS
        assert labels_used <= {"job_type", "channel"}, (rule["alert"], labels_used)


def test_the_issue_s_failures_each_have_an_alert() -> None:
    exprs = " ".join(r["expr"] for r in rules())
    for needed in (
        "tarif_alerts_open",  # open alerts
        'tarif_job_runs_total{status="failed"}',  # failed runs
        "tarif_job_failed_items_total",  # failed items
        'outcome="dead"',  # dead deliveries
        'tarif_job_runs_total{status="succeeded"}[26h]',  # a job that has not run
    ):
        assert needed in exprs, needed
