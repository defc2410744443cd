"""py-spy's collapsed stacks folded into own and total samples per function and package."""

from __future__ import annotations

from loadtest.profile import Sample, fold, frame_name, summarise

RAW = [
    "<module> (tarif:6);Runner.run (asyncio/runners.py:118) 50",
    "<module> (tarif:6);Runner.run (asyncio/runners.py:118);"
    "wrapper (engine/edge.py:114);event_step (engine/convert.py:70) 30",
    "<module> (tarif:6);Runner.run (asyncio/runners.py:118);"
    "wrapper (engine/edge.py:120);wrapper (engine/edge.py:121) 20",
    "not a stack line",
]


def test_frames_lose_their_line_and_name_their_package() -> None:
    assert frame_name("event_step (engine/convert.py:70)") == (
        "event_step (engine/convert.py)",
        "engine",
    )
    site = "/x/.venv/lib/python3.11/site-packages/redis/asyncio/client.py:12"
    assert frame_name(f"execute_command ({site})") == (
        "execute_command (redis/asyncio/client.py)",
        "redis",
    )


def test_own_and_total_samples() -> None:
    profile = fold(RAW)
    assert profile.samples == 100
    assert profile.own["Runner.run (asyncio/runners.py)"] == 50
    assert profile.own["wrapper (engine/edge.py)"] == 20
    # a function counts once per stack in total, however often it recurs in it
    assert profile.total["wrapper (engine/edge.py)"] == 50
    assert profile.total["<module> (tarif)"] == 100
    assert profile.groups == {"asyncio": 50, "engine": 50}
    text = summarise(profile, "t")
    assert "# t: 100 samples" in text
    assert " 50.0%  engine" in text


def test_cpu_per_event() -> None:
    sample = Sample("b", "unary", events=2_000, seconds=2.0, cpu=1.5)
    assert (sample.rate, sample.cpu_us) == (1_000.0, 750.0)
