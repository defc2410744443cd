"""promtool on deploy/: the alert rules load (`check rules`), behave as their scenarios say
(`test rules` on deploy/prometheus/tests/*.yml), and deploy/prometheus.yml is a valid config.

Every alert has a scenario where it fires and one where it stays quiet: promtool compares the
firing alerts' labels and annotations whole, so the annotation templates are checked too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import promtool

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
SCENARIOS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))


def alert_names() -> set[str]:
    document = yaml.safe_load(RULES.read_text())
    return {rule["alert"] for group in document["groups"] for rule in group["rules"]}


def checks() -> list[dict[str, Any]]:
    found = []
    for path in SCENARIOS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            found.extend(test.get("alert_rule_test", []))
    return found


def test_the_rules_pass_promtool_check_rules() -> None:
    status, said = promtool.run("check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert status == 0, said
    assert f"SUCCESS: {len(alert_names())} rules found" in said, said


def test_the_scenarios_pass_promtool_test_rules() -> None:
    assert SCENARIOS
    status, said = promtool.run("test", "rules", *(str(p) for p in SCENARIOS))
    assert status == 0, said
    assert said.count("SUCCESS") == len(SCENARIOS), said


def test_every_alert_fires_in_a_scenario_and_stays_quiet_in_another() -> None:
    fired = {c["alertname"] for c in checks() if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in checks() if not c.get("exp_alerts")}
    assert fired == alert_names()
    assert quiet == alert_names()


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-local.yml"])
def test_the_prometheus_configs_pass_promtool_check_config(config: str) -> None:
    status, said = promtool.run("check", "config", str(DEPLOY / config))
    assert status == 0, said
    assert "prometheus/alerts.yml" in said  # its rule_files name the rules: they load with it
