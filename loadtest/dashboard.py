"""The Grafana dashboard of deploy/ as the render script needs it: its panels, their queries.

The dashboard JSON is the one place each panel's PromQL lives; the pictures in docs/dashboard/
are drawn from these same queries (`loadtest.dashboard_render`), so a renamed metric is one
search-and-replace in the JSON. Grafana's interval variables are filled in here the way
Grafana would for a short window.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.setup import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "tarif.json"
_LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")


@dataclass(frozen=True)
class Target:
    ref: str
    expr: str
    legend: str

    def promql(self, rate_interval: str, range_: str) -> str:
        """The query with Grafana's variables replaced, as Prometheus' API takes it."""
        return self.expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)

    def label(self, metric: dict[str, str]) -> str:
        """A series' name in the legend: the legend format with its labels filled in."""
        if not self.legend:
            return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"
        return _LEGEND_LABEL.sub(lambda m: metric.get(m.group(1), ""), self.legend).strip()


@dataclass(frozen=True)
class Panel:
    id: int
    title: str
    description: str
    unit: str
    section: str  # the title of the row above it
    grid: tuple[int, int, int, int]  # x, y, w, h on Grafana's 24-column grid
    targets: tuple[Target, ...]

    @property
    def slug(self) -> str:
        """A file name for the panel's picture: its position and its title."""
        words = re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
        return f"{self.id:02d}-{words}"


def load(path: Path = DASHBOARD) -> list[Panel]:
    """The graph panels in their order on the dashboard (rows are headings, not panels)."""
    document: dict[str, Any] = json.loads(path.read_text())
    panels, section = [], ""
    for raw in sorted(document["panels"], key=lambda p: (p["gridPos"]["y"], p["gridPos"]["x"])):
        if raw["type"] == "row":
            section = raw["title"]
            continue
        grid = raw["gridPos"]
        panels.append(
            Panel(
                id=raw["id"],
                title=raw["title"],
                description=raw.get("description", ""),
                unit=raw.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"),
                section=section,
                grid=(grid["x"], grid["y"], grid["w"], grid["h"]),
                targets=tuple(
                    Target(t["refId"], t["expr"], t.get("legendFormat", "")) for t in raw["targets"]
                ),
            )
        )
    return panels
