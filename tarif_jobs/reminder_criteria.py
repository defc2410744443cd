"""The criteria of the `collections` job type: the customer criteria every job takes, and which
reminder automations the run covers."""

from __future__ import annotations

from pydantic import Field

from tarif_jobs.criteria import Criteria


class CollectionsCriteria(Criteria):
    """A collections run runs every automation due by its "process now" (each by its own
    cadence), restricted to `automations` when given; with `start` it runs those automations
    now whatever their cadence (the seed's Start action). The customer criteria narrow every
    automation's own filters (AND)."""

    automations: list[int] = Field(default_factory=list, max_length=1000)
    start: bool = False
