"""What a run of a job is given and how it reports: the protocol every job type follows.

A job type's `run_once(ctx, request, items)` acts as of `request.process_now` on what
`request.criteria` selects (restricted to `request.only` when the run retries failed items), and
tells `items` how many objects it will touch, each one that succeeded and each one that failed with
the object and the full error. It must be idempotent: a run resumed after a crash, or a second
run with the same "process now", does nothing twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, order=True)
class ItemRef:
    """The object a run item concerns, e.g. ("billing_profile", "42") or ("invoice", "INV-7")."""

    object_type: str
    object_id: str


@dataclass(frozen=True)
class RunRequest:
    """One run: the "process now" time, the job's criteria (validated, as stored), and for a
    retry the failed items to do again (None: everything the criteria select)."""

    process_now: datetime
    criteria: Mapping[str, Any] = field(default_factory=dict)
    only: frozenset[ItemRef] | None = None
    run_id: int | None = None

    def wants(self, ref: ItemRef) -> bool:
        """Whether this run should touch `ref` (always, unless it retries other items)."""
        return self.only is None or ref in self.only

    def only_ids(self, object_type: str) -> list[str] | None:
        """The ids of `object_type` a retry is restricted to (None: no restriction)."""
        if self.only is None:
            return None
        return sorted(r.object_id for r in self.only if r.object_type == object_type)


class Items(Protocol):
    """Where a run reports its progress and its failed items."""

    async def add_total(self, n: int) -> None:
        """`n` more objects to process (a run may announce its total in parts)."""

    async def succeeded(self, n: int = 1) -> None:
        """`n` objects processed without error."""

    async def failed(self, ref: ItemRef, error: BaseException | str, *, cause: str = "") -> None:
        """One object failed: kept with the full error and its likely cause (also an activity
        log entry and an alert); a retry of the run does it again."""
