"""docs/operations.md lists every metric the processes export and has a section for every alert
(the alerts' runbook annotations point to those sections)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from billing_batch.metrics import BatchMetrics
from engine.metrics import EngineMetrics

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "operations.md").read_text()


def exposed_names() -> set[str]:
    registry = CollectorRegistry()
    EngineMetrics(registry)
    BatchMetrics(registry)
    return {f.name + "_total" if f.type == "counter" else f.name for f in registry.collect()}


def test_every_metric_is_in_the_tables() -> None:
    rows = set(re.findall(r"^\| `(tarif_[a-z_]+)` \|", DOC, re.MULTILINE))
    assert rows == exposed_names()


def test_every_alert_has_its_section() -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    sections = set(re.findall(r"^### (Tarif[A-Za-z]+)$", DOC, re.MULTILINE))
    table = set(re.findall(r"^\| \[`(Tarif[A-Za-z]+)`\]\(#([a-z]+)\)", DOC, re.MULTILINE))
    assert sections == alerts
    assert table == {(alert, alert.lower()) for alert in alerts}
