"""How long work tells where it is, without knowing who listens.

Library loops (provisioning, `tarif sync`, billing runs) take a `Progress` and report to it; the
`tarif` command hands in a bar or plain lines (`tarif_cli.progress`), everyone else gets
`NO_PROGRESS`. Kept here, at the bottom of the layers, so no library imports the CLI.
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """One stretch of work at a time: `start`, any number of `advance`, then `done`."""

    def start(self, verb: str, noun: str, total: int | None) -> None:
        """Work on `total` items (None: not known yet) begins, read as "`verb` 3/`total` `noun`"
        (`provisioned 500/1000 accounts`). Starting again begins the next stretch."""

    def advance(self, n: int = 1, *, total: int | None = None) -> None:
        """`n` more items are done; `total`, when given, is the total as now known (work that
        announces its total in parts)."""

    def done(self) -> None:
        """The stretch ended (all of it, or as far as it went)."""


class NoProgress:
    """Progress nobody listens to: the default of every library function that takes one."""

    def start(self, verb: str, noun: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, *, total: int | None = None) -> None:
        pass

    def done(self) -> None:
        pass


NO_PROGRESS: Progress = NoProgress()
