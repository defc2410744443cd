"""How the purchase jobs select their objects: the run's customer criteria as one SQL condition
on `customers c` (its values numbered after the query's own four: at, after, limit, only), the
ids a retry is restricted to, and the size of the chunks a run takes (each object is then done
in a transaction of its own: no transaction spans a run)."""

from __future__ import annotations

from tarif_jobs.criteria import Criteria
from tarif_jobs.runs import RunRequest

CHUNK = 200  # objects selected at a time


def where(request: RunRequest, first: int = 5) -> tuple[str, list[object]]:
    """The run's criteria as a condition on `customers c`, its values from `$first`."""
    return Criteria.model_validate(dict(request.criteria)).where("c", first)


def only(request: RunRequest, object_type: str) -> list[int] | None:
    """The ids of `object_type` a retry re-does (None: every object the criteria select)."""
    ids = request.only_ids(object_type)
    return None if ids is None else [int(i) for i in ids if i.isdigit()]
