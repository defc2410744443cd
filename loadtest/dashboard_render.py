"""Draw the dashboard's panels from Prometheus, as Grafana would: one PNG per panel and one
of the whole dashboard, each panel's series from its own PromQL through `query_range`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from loadtest.dashboard import Panel

# Grafana's dark theme, so the pictures look like the dashboard they stand for; past the
# palette's distinct colours, the same colours again dashed
BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
PALETTE = [
    "#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#6ed0e0", "#c15c17",
    "#fade2a", "#8ab8ff", "#96d98d", "#ff9830",
]  # fmt: skip
STYLES = ["-", "--", ":"]


@dataclass(frozen=True)
class Series:
    label: str
    times: list[float]  # unix seconds
    values: list[float]

    @property
    def points(self) -> int:
        return sum(1 for v in self.values if math.isfinite(v))


@dataclass(frozen=True)
class Window:
    start: float  # unix seconds
    end: float
    step: float
    rate_interval: str  # what $__rate_interval becomes (Grafana: at least 4 scrape intervals)

    @property
    def range(self) -> str:
        return f"{math.ceil(self.end - self.start)}s"


def query(prometheus: str, panel: Panel, window: Window) -> list[Series]:
    """Every series of every query of the panel over the window, in Prometheus' order."""
    found = []
    with httpx.Client(base_url=prometheus, timeout=30.0) as client:
        for target in panel.targets:
            answer = client.get(
                "/api/v1/query_range",
                params={
                    "query": target.promql(window.rate_interval, window.range),
                    "start": window.start,
                    "end": window.end,
                    "step": window.step,
                },
            )
            body = answer.json()
            if body.get("status") != "success":
                raise RuntimeError(f"panel {panel.title!r}, query {target.ref}: {body}")
            for result in body["data"]["result"]:
                pairs = [(float(t), float(v)) for t, v in result["values"]]
                found.append(
                    Series(
                        target.label(result["metric"]),
                        [t for t, _ in pairs],
                        [v for _, v in pairs],
                    )
                )
    return sorted(found, key=lambda s: s.label)


def _scaled(value: float, unit: str) -> str:
    """A y-axis tick in the panel's Grafana unit."""
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "s":
        if value == 0:
            return "0"
        for factor, name in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= factor:
                return f"{value / factor:.3g} {name}"
        return f"{value * 1e6:.2g} µs"
    suffix = {"reqps": " req/s", "ops": "/s"}.get(unit, "")
    for factor, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{name}{suffix}"
    return f"{value:.3g}{suffix}"


def _tick_spacing(span: float, ticks: int) -> float:
    """Seconds between time labels: a round number giving about `ticks` of them."""
    for step in (5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span / step <= ticks:
            return float(step)
    return 3600.0


def _legend_columns(series: list[Series], inches: float, compact: bool) -> int:
    """As many legend columns (at most 4) as the longest name lets fit in `inches`."""
    longest = max((len(s.label) for s in series), default=1) + 5  # and the line's sample
    return max(1, min(4, int(inches / (longest * (0.047 if compact else 0.058)))))


def _draw(ax: Axes, panel: Panel, series: list[Series], compact: bool, columns: int) -> None:
    """The panel as Grafana draws a time series: title, lines over a light fill, legend below."""
    ax.set_facecolor(PANEL)
    ax.set_title(panel.title, loc="left", color=TEXT, fontsize=9 if compact else 11)
    for i, s in enumerate(series):
        color, style = PALETTE[i % len(PALETTE)], STYLES[i // len(PALETTE) % len(STYLES)]
        ax.plot(s.times, s.values, color=color, linestyle=style, linewidth=1.2, label=s.label)
        ax.fill_between(s.times, s.values, color=color, alpha=0.08)
    if not series:
        ax.text(0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=ax.transAxes)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _scaled(v, panel.unit)))
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda t, _: time.strftime("%H:%M:%S", time.localtime(t)))
    )
    span = max((s.times[-1] - s.times[0] for s in series if s.times), default=60.0)
    ax.xaxis.set_major_locator(MultipleLocator(_tick_spacing(span, 4 if compact else 7)))
    ax.grid(color=GRID, linewidth=0.6)
    ax.tick_params(colors=TEXT, labelsize=7 if compact else 8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if series:
        # the legend starts 0.3 inch under the graph (room for the time labels)
        figure = ax.get_figure()
        assert isinstance(figure, Figure)
        height = ax.get_position().height * figure.get_figheight()
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(0.0, -0.3 / height),
            ncol=columns,
            frameon=False,
            fontsize=6 if compact else 7.5,
            labelcolor=TEXT,
        )


def panel_png(panel: Panel, series: list[Series], path: Path) -> None:
    """One panel alone, legend below the graph as Grafana shows it."""
    columns = _legend_columns(series, 8.2, compact=False)
    rows = math.ceil(len(series) / columns)
    fig, ax = plt.subplots(figsize=(9, 3.6 + 0.22 * rows), facecolor=PANEL)
    _draw(ax, panel, series, compact=False, columns=columns)
    fig.tight_layout()
    fig.savefig(path, dpi=100, facecolor=PANEL)
    plt.close(fig)


def dashboard_png(drawn: list[tuple[Panel, list[Series]]], title: str, path: Path) -> None:
    """Every panel at its place on Grafana's 24-column grid, under its row's title; a panel's
    legend takes room from its graph, as in Grafana."""
    width, unit, top = 20.0, 0.42, 0.5  # inches: figure width, one grid row, the title's band
    height = top + max(p.grid[1] + p.grid[3] for p, _ in drawn) * unit
    fig = plt.figure(figsize=(width, height), facecolor=BACKGROUND)
    fig.text(0.005, 1 - 0.3 / height, title, color=TEXT, fontsize=14, va="center")
    sections = set()
    for panel, series in drawn:
        x, y, w, h = panel.grid
        if panel.section not in sections:  # the row's title sits on the grid row above
            sections.add(panel.section)
            row_middle = top + (y - 0.5) * unit
            fig.text(0.005, 1 - row_middle / height, panel.section, color=TEXT, fontsize=12)
        axes_width = w / 24 * width - 0.75
        columns = _legend_columns(series, axes_width, compact=True)
        legend = math.ceil(len(series) / columns) * 0.15
        axes_top = top + y * unit + 0.4  # under the panel's title
        axes_height = h * unit - 0.4 - 0.35 - legend  # over the time labels and the legend
        box = (
            (x / 24 * width + 0.55) / width,
            1 - (axes_top + axes_height) / height,
            axes_width / width,
            axes_height / height,
        )
        _draw(fig.add_axes(box), panel, series, compact=True, columns=columns)
    fig.savefig(path, dpi=80, facecolor=BACKGROUND)
    plt.close(fig)
