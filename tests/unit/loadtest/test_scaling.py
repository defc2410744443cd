"""The scaling report: ratios to one engine process, each process's cores (no I/O, no load)."""

from __future__ import annotations

from loadtest import scaling
from loadtest.report import Phase
from loadtest.scaling import Options, Point


def _point(workers: int, round_: int, unary: int, batch: int, cores: list[float]) -> Point:
    cpu = {f"engine/{100 + i}": c * 2.0 for i, c in enumerate(cores)}  # 2 s windows
    cpu |= {"engine": sum(cores) * 2.0, "redis": 0.5, "generator": 0.4, "busy": 3.0}
    cpu |= {
        scaling.NET_IN: unary * 600.0,
        scaling.NET_OUT: unary * 300.0,
        scaling.AOF: unary * 900.0,
    }
    return Point(
        workers,
        round_,
        Phase("unary", 2.0, events=unary * 2, success=unary * 2, cpu=cpu),
        Phase("batched", 2.0, events=batch * 2, success=batch * 2, cpu=cpu),
    )


def _row(text: str, section: str, first: str) -> list[str]:
    part = text.split(f"## {section}")[1].split("\n## ")[0]
    (line,) = [ln for ln in part.splitlines() if ln.startswith(f"| {first} |")]
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_summary_compares_each_n_with_the_median_of_one_process() -> None:
    points = [
        _point(1, 0, 1_000, 10_000, [1.0]),
        _point(2, 0, 1_800, 15_000, [0.9, 0.8]),
        _point(1, 1, 1_200, 12_000, [1.0]),
        _point(2, 1, 2_000, 16_000, [1.0, 0.7]),
    ]
    text = scaling.render(points, Options(workers=(1, 2), rounds=2), "cmd")

    assert _row(text, "Summary", "1") == ["1", "1,100", "1.00", "11,000", "1.00"]
    assert _row(text, "Summary", "2") == ["2", "1,900", "1.73", "15,500", "1.41"]
    assert "none: every answer SUCCESS" in text


def test_tables_show_each_engine_process_busiest_first() -> None:
    points = [_point(1, 0, 1_000, 10_000, [1.0]), _point(3, 0, 2_500, 20_000, [0.5, 0.9, 0.7])]
    text = scaling.render(points, Options(workers=(1, 3)), "cmd")

    cells = _row(text, "Unary ChargeEvent", "3")
    assert cells[2:5] == ["2,500", "2.50", "2.10 (0.90 / 0.70 / 0.50)"]
    assert cells[8] == "840"  # engine µs/event: 4.2 s of CPU over 5,000 events
    assert cells[10] == "300 / 150 / 450"  # Redis bytes in / out / AOF per event
    assert scaling.engine_cores(points[1].unary) == [0.9, 0.7, 0.5]


def test_errors_are_listed() -> None:
    point = _point(1, 0, 1_000, 10_000, [1.0])
    point.unary.errors = {"UNAVAILABLE": 3}
    point.incidents.append("engine exited with code 1")
    text = scaling.render([point], Options(workers=(1,)), "cmd")

    assert "- N=1, round 1, unary: {'UNAVAILABLE': 3}" in text
    assert "- N=1, round 1: engine exited with code 1" in text
