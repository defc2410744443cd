"""The benchmark report's floor rows, ratios, target and CPU per event (no I/O, no load)."""

from __future__ import annotations

from loadtest import report
from loadtest.bench import open_loop_rates
from loadtest.report import Memory, OpenLoop, Phase, RunFigures


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


UNARY_TARGET = "Unary ChargeEvent / bare gRPC floor (same run)"


def test_unary_floor_target_is_70_percent() -> None:
    run = _figures()
    cells = _row(report.render([run], "cmd", [], "server"), UNARY_TARGET)
    assert cells[1] == ">= 0.7 x floor"
    assert cells[2] == "0.80 (1.14 x target, 4,000 / 5,000 events/s) PASS"

    assert run.floor_unary is not None
    run.floor_unary.events = 20_000  # engine now at 40 % of the floor
    cells = _row(report.render([run], "cmd", [], "server"), UNARY_TARGET)
    assert cells[2] == "0.40 (0.57 x target, 4,000 / 10,000 events/s) **FAIL**"


def test_missing_floor_fails_the_target_and_shows_no_ratio() -> None:
    run = _figures()
    run.floor_unary = None
    text = report.render([run], "cmd", [], "server")
    assert _row(text, "Ratio unary engine / floor")[1] == "n/a"
    assert _row(text, UNARY_TARGET)[2].endswith("**FAIL**")


def _open_loop(rate: float, p99_ms: float, **extra: float) -> OpenLoop:
    return OpenLoop(
        "open loop",
        2.0,
        events=int(rate * 2),
        latency_ms={"p50_ms": 1.0, "p99_ms": p99_ms, "max_ms": 9.0},
        offered_rate=rate,
        offered=int(rate * 2),
        **extra,  # type: ignore[arg-type]
    )


def test_throughput_targets_are_the_issues() -> None:
    run = _figures()
    run.batch = Phase("batched", 2.0, events=90_000)  # 45,000/s: just at the limit
    run.raw_batch = Phase("raw batched", 1.0, events=59_000)
    text = report.render([run], "cmd", [], "server")

    assert _row(text, "Batched ChargeEvents")[1:] == [
        ">= 45,000 events/s",
        "45,000 (1.00 x target) PASS",
    ]
    assert _row(text, "Raw atomic step (event.lua), batches of 500")[1:] == [
        ">= 60,000 events/s",
        "59,000 (0.98 x target) **FAIL**",
    ]


def test_latency_target_is_p99_at_half_the_unary_peak() -> None:
    run = _figures()
    run.latency_half = _open_loop(2_000, 4.5)
    run.latency = _open_loop(4_000, 80.0)  # at the peak: shown, not a target
    label = "Open-loop p99 at half the unary peak"
    cells = _row(report.render([run], "cmd", [], "server"), label)
    assert cells[1:] == ["<= 5 ms", "4.50 (0.90 x target, at 2,000 req/s) PASS"]

    run.latency_half = _open_loop(2_000, 4.5, skipped=3)  # the rate was not really offered
    cells = _row(report.render([run], "cmd", [], "server"), label)
    behind = "at 2,000 req/s; **the generator fell behind**"
    assert cells[2] == f"4.50 (0.90 x target, {behind}) PASS"

    run.latency_half = None
    cells = _row(report.render([run], "cmd", [], "server"), label)
    assert cells[2] == "n/a (n/a x target, not run) **FAIL**"


def test_open_loop_rows_show_both_rates() -> None:
    run = _figures()
    run.latency_half = _open_loop(2_000, 4.5)
    run.latency = _open_loop(4_000, 80.0)
    text = report.render([run], "cmd", [], "server")
    half = "Open loop at half the unary peak (the target)"
    assert _row(text, f"{half}: offered, req/s")[1] == "2,000"
    assert _row(text, f"{half}: latency p50 / p99 / max, ms")[1] == "1.00 / 4.50 / 9.00"
    assert _row(text, "Open loop at the unary peak: offered, req/s")[1] == "4,000"


def test_memory_targets() -> None:
    run = _figures()
    run.workers = 2
    run.engine_rss_max = 300 * report.MB  # both processes together
    run.engine_rss_max_process = 150 * report.MB
    run.memory_before = Memory(account=1_800, route=300, sampled=10)
    text = report.render([run], "cmd", [], "server")

    assert _row(text, "Engine RSS under load (largest process)")[1:] == [
        "<= 200 MB",
        "150.0 (0.75 x target) PASS",
    ]
    assert _row(text, "Redis per subscriber (3 balances)")[1:] == [
        "<= 2,048 B",
        "2,100 (1.03 x target) **FAIL**",
    ]
    assert _row(text, "Engine processes (`--workers`)")[1] == "2"
    assert _row(text, "Engine RSS idle / max under load, MB (all processes)")[1] == "0.0 / 300.0"


def test_open_loop_rates_follow_the_unary_peak() -> None:
    assert open_loop_rates(Phase("unary", 2.0, events=6_001)) == (1_500.0, 3_000.0)
    assert open_loop_rates(None) == (1.0, 2.0)  # never zero: the phase still runs


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
