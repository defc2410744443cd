"""The benchmark report's floor rows, ratios, target and CPU per event (no I/O, no load)."""

from __future__ import annotations

from loadtest import report
from loadtest.report import Phase, RunFigures


def _figures() -> RunFigures:
    run = RunFigures("everysec", 1_000)
    run.unary = Phase("unary", 2.0, events=8_000, cpu={"engine": 2.0, "redis": 0.4})
    run.floor_unary = Phase("floor unary", 2.0, events=10_000, cpu={"floor": 1.5, "engine": 0.0})
    run.raw_single = Phase("raw single", 1.0, events=16_000, cpu={"redis": 1.0})
    run.batch = Phase("batched", 2.0, events=20_000, cpu={"engine": 1.0, "redis": 1.0})
    run.floor_batch = Phase("floor batched", 2.0, events=400_000, cpu={"floor": 2.0})
    return run


def _row(text: str, label: str) -> list[str]:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"| {label} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_floor_rates_and_ratios_are_in_all_figures() -> None:
    text = report.render([_figures()], "cmd", [], "server")

    assert _row(text, "Bare gRPC floor, unary, events/s")[1] == "5,000"
    assert _row(text, "Bare gRPC floor, batches of 500, events/s")[1] == "200,000"
    assert _row(text, "Ratio unary engine / floor")[1] == "0.80"
    assert _row(text, "Ratio batched engine / floor")[1] == "0.05"
    assert _row(text, "Ratio unary engine / raw single")[1] == "0.25"


def test_unary_floor_target_is_70_percent() -> None:
    run = _figures()
    cells = _row(report.render([run], "cmd", [], "server"), "Unary engine / bare gRPC floor")
    assert cells[1] == ">= 0.7 x floor"
    assert cells[2] == "0.80 (1.14 x target) PASS"

    assert run.floor_unary is not None
    run.floor_unary.events = 20_000  # engine now at 40 % of the floor
    cells = _row(report.render([run], "cmd", [], "server"), "Unary engine / bare gRPC floor")
    assert cells[2] == "0.40 (0.57 x target) **FAIL**"


def test_missing_floor_fails_the_target_and_shows_no_ratio() -> None:
    run = _figures()
    run.floor_unary = None
    text = report.render([run], "cmd", [], "server")
    assert _row(text, "Ratio unary engine / floor")[1] == "n/a"
    assert _row(text, "Unary engine / bare gRPC floor")[2].endswith("**FAIL**")


def test_cpu_per_event_in_microseconds_for_each_phase() -> None:
    run = _figures()
    assert run.unary is not None
    assert run.floor_batch is not None
    assert report.cpu_per_event_us(run.unary, "engine") == 250.0  # 2 s / 8,000 events
    assert report.cpu_per_event_us(run.unary, "redis") == 50.0
    assert report.cpu_per_event_us(run.floor_batch, "floor") == 5.0
    assert report.cpu_per_event_us(Phase("empty", 1.0), "engine") == 0.0

    text = report.render([run], "cmd", [], "server")
    section = text.split("## CPU per event")[1]
    assert "| unary | everysec | 4,000 | 250.0 | 0.0 | 50.0 |" in section
    assert "| floor unary | everysec | 5,000 | 0.0 | 150.0 | 0.0 |" in section
    assert "| raw single | everysec | 16,000 | 0.0 | 0.0 | 62.5 |" in section
