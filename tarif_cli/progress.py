"""Progress of long commands on stderr: a bar on a terminal, plain lines in a log.

stdout keeps the command's answer alone (`--json` stays one document). A terminal gets a rich
bar that redraws in place; anything else (CI logs, a pipe, a file) gets a line each time another
tenth is done, or every `every` seconds when the total is not known or the work is slow, and the
last count, so a log says how far a run got without thousands of lines.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    ProgressColumn,
    Task,
    TaskID,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from tarif_common.progress import Progress


def phrase(verb: str, noun: str, done: int, total: int | None) -> str:
    """`provisioned 500/1000 accounts` (`provisioned 500 accounts` while the total is unknown)."""
    count = f"{done}" if total is None else f"{done}/{max(total, done)}"
    return f"{verb} {count} {noun}"


class Lines:
    """Plain progress lines for logs: at each tenth (`steps`) crossed, after `every` seconds
    without a line, and the last count; nothing for a stretch with nothing to do."""

    def __init__(
        self,
        stream: TextIO,
        *,
        steps: int = 10,
        every: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._steps = steps
        self._every = every
        self._clock = clock
        self._stretch: tuple[str, str] | None = None
        self._total: int | None = None
        self._done = 0
        self._shown = -1  # the count last written
        self._step = 0  # the tenths last written
        self._at = clock()

    def start(self, verb: str, noun: str, total: int | None) -> None:
        self.done()
        self._stretch, self._total, self._done = (verb, noun), total, 0
        self._shown, self._step, self._at = -1, 0, self._clock()

    def advance(self, n: int = 1, *, total: int | None = None) -> None:
        if self._stretch is None:
            return
        self._done += n
        if total is not None:
            self._total = total
        step = self._done * self._steps // self._total if self._total else 0
        if step > self._step or self._clock() - self._at >= self._every:
            self._step = max(step, self._step)
            self._write()

    def done(self) -> None:
        if self._stretch is None:
            return
        if self._done != self._shown and (self._done or self._total):
            self._write()
        self._stretch = None

    def _write(self) -> None:
        assert self._stretch is not None
        verb, noun = self._stretch
        print(phrase(verb, noun, self._done, self._total), file=self._stream, flush=True)
        self._shown, self._at = self._done, self._clock()


class _Phrase(ProgressColumn):
    """The same words as the plain lines, before the bar."""

    def render(self, task: Task) -> Text:
        total = None if task.total is None else int(task.total)
        return Text(phrase(task.fields["verb"], task.fields["noun"], int(task.completed), total))


class Bar:
    """A rich progress bar (one line per stretch) on a terminal's console."""

    def __init__(self, console: Console) -> None:
        # stdout is the answer's: never drawn through the bar's console (stderr)
        self._bar = RichProgress(
            _Phrase(),
            BarColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            redirect_stdout=False,
        )
        self._task: TaskID | None = None
        self._live = False

    def start(self, verb: str, noun: str, total: int | None) -> None:
        self.done()
        if total == 0:
            return  # nothing to do: no bar
        if not self._live:
            self._bar.start()
            self._live = True
        self._task = self._bar.add_task(verb, total=total, verb=verb, noun=noun)

    def advance(self, n: int = 1, *, total: int | None = None) -> None:
        if self._task is None:
            return
        task = self._bar.tasks[self._task]
        if total is None and task.total is not None and task.completed + n > task.total:
            total = int(task.completed + n)  # more turned up than announced: never past full
        if total is not None:
            self._bar.update(self._task, total=total)
        self._bar.advance(self._task, n)

    def done(self) -> None:
        if self._task is None:
            return
        task = self._bar.tasks[self._task]
        if task.total is None:
            self._bar.update(self._task, total=task.completed)
        self._bar.stop_task(self._task)
        self._bar.refresh()
        self._task = None

    def close(self) -> None:
        self.done()
        if self._live:
            self._bar.stop()
            self._live = False


@contextmanager
def reporting(stream: TextIO | None = None) -> Iterator[Progress]:
    """The progress of one command on `stream` (stderr): a bar if it is a terminal rich can
    draw on, else plain lines."""
    stream = sys.stderr if stream is None else stream
    console = Console(file=stream)
    if not console.is_terminal or console.is_dumb_terminal:
        lines = Lines(stream)
        try:
            yield lines
        finally:
            lines.done()
        return
    bar = Bar(console)
    try:
        yield bar
    finally:
        bar.close()
