"""Progress on stderr: plain lines for logs (a tenth at a time, the last count, nothing for
nothing), a rich bar on a terminal, and which of the two a stream gets."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

import pytest
from rich.console import Console

from tarif_cli.progress import Bar, Lines, phrase, reporting
from tarif_common.progress import NO_PROGRESS


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_say_each_tenth_once_and_nothing_more_at_the_end() -> None:
    out = io.StringIO()
    lines = Lines(out, clock=Clock())
    lines.start("provisioned", "accounts", 1000)
    for _ in range(1000):
        lines.advance()
    lines.done()

    assert out.getvalue().splitlines() == [
        f"provisioned {n}/1000 accounts" for n in range(100, 1001, 100)
    ]


def test_lines_give_the_last_count_of_work_that_stopped_short() -> None:
    out = io.StringIO()
    lines = Lines(out, clock=Clock())
    lines.start("billed", "bills", 40)
    lines.advance(3)  # below a tenth: no line yet
    assert out.getvalue() == ""
    lines.done()

    assert out.getvalue() == "billed 3/40 bills\n"


def test_lines_without_a_total_speak_every_so_often_and_at_the_end() -> None:
    out, clock = io.StringIO(), Clock()
    lines = Lines(out, every=30.0, clock=clock)
    lines.start("run 7 (billing) did", "items", None)
    lines.advance(5)
    clock.now = 29.0
    lines.advance(5)
    assert out.getvalue() == ""
    clock.now = 31.0
    lines.advance(0)  # a poll that found nothing new still says the run is alive
    lines.advance(2, total=100)  # the total, once announced, is shown
    lines.done()

    assert out.getvalue().splitlines() == [
        "run 7 (billing) did 10 items",
        "run 7 (billing) did 12/100 items",
    ]


def test_lines_say_nothing_of_a_stretch_with_nothing_to_do() -> None:
    out = io.StringIO()
    lines = Lines(out, clock=Clock())
    lines.start("provisioned", "sharing groups", 0)
    lines.done()
    lines.advance()  # after done: ignored
    lines.done()

    assert out.getvalue() == ""


def test_more_than_announced_never_reads_past_the_total() -> None:
    out = io.StringIO()
    lines = Lines(out, clock=Clock())
    lines.start("billed", "bills", 2)  # a profile late by a cycle: its next cycle is due too
    lines.advance(3)
    lines.done()

    assert out.getvalue() == "billed 3/3 bills\n"
    assert phrase("billed", "bills", 3, 2) == "billed 3/3 bills"
    assert phrase("synced", "accounts", 4, None) == "synced 4 accounts"


def test_a_new_stretch_ends_the_one_before() -> None:
    out = io.StringIO()
    lines = Lines(out, clock=Clock())
    lines.start("provisioned", "accounts", 40)
    lines.advance(2)
    lines.start("provisioned", "sharing groups", 1)
    lines.advance()
    lines.done()

    assert out.getvalue().splitlines() == [
        "provisioned 2/40 accounts",
        "provisioned 1/1 sharing groups",
    ]


def test_the_bar_draws_in_place_on_a_terminal() -> None:
    out = io.StringIO()
    bar = Bar(Console(file=out, force_terminal=True, width=100))
    bar.start("provisioned", "accounts", 1000)
    bar.advance(500)
    bar.done()
    bar.start("provisioned", "sharing groups", 0)  # nothing to do: no bar
    bar.advance()
    bar.close()
    bar.close()  # twice is harmless

    drawn = out.getvalue()
    assert "provisioned 500/1000 accounts" in drawn
    assert "━" in drawn
    assert "\r\x1b[2K" in drawn  # redrawn over itself, not a line each time
    assert "sharing groups" not in drawn


def test_the_bar_fills_up_when_more_turns_up_than_announced() -> None:
    out = io.StringIO()
    bar = Bar(Console(file=out, force_terminal=True, width=100))
    bar.start("run 3 (probe) did", "items", None)  # total not known yet
    bar.advance(2)
    bar.advance(1, total=2)
    bar.close()

    assert "run 3 (probe) did 3/3 items" in out.getvalue()


def test_a_log_gets_lines_and_a_terminal_gets_the_bar(
    monkeypatch: pytest.MonkeyPatch, pty_stream: io.TextIOWrapper
) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    with reporting(io.StringIO()) as progress:
        assert isinstance(progress, Lines)
    with reporting(pty_stream) as progress:
        assert isinstance(progress, Bar)
    monkeypatch.setenv("TERM", "dumb")  # a terminal that cannot redraw gets lines
    with reporting(pty_stream) as progress:
        assert isinstance(progress, Lines)


def test_nobody_listens_by_default() -> None:
    NO_PROGRESS.start("provisioned", "accounts", 3)
    NO_PROGRESS.advance(3, total=3)
    NO_PROGRESS.done()


@pytest.fixture
def pty_stream() -> Iterator[io.TextIOWrapper]:
    """A text stream on a pseudo-terminal (what `isatty()` says yes to)."""
    leader, follower = os.openpty()
    stream = open(follower, "w")  # noqa: SIM115 (closed below)
    try:
        yield stream
    finally:
        stream.close()
        os.close(leader)
