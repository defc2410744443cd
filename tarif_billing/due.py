"""The ids of the objects a job's run takes next: due by "process now", of the customers the
run's criteria select (a condition on `customers c`, its values from $5), after an id, at most
a chunk, restricted to the ids a retry re-does. One shape for every such query:
`$1 at, $2 after, $3 limit, $4 only ids (NULL: all)` and a `{where}` slot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from tarif_postgres import queries


@dataclass(frozen=True)
class DueIds:
    query: str

    async def __call__(
        self,
        conn: asyncpg.Connection,
        at: datetime,
        where: tuple[str, list[object]],
        after: int,
        limit: int,
        only: list[int] | None,
    ) -> list[int]:
        condition, args = where
        rows = await conn.fetch(
            queries.compose(self.query, where=condition), at, after, limit, only, *args
        )
        return [r["id"] for r in rows]
