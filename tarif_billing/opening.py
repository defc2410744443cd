"""Opening bills: a profile's first active bill (the cycle it starts in) and the next inactive
one, prepared in advance as the manual describes, so a run only flips statuses."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tarif_billing.cycles import Cycle, cycle_at, next_cycle
from tarif_billing.profiles import cycle_rule
from tarif_common.errors import InvalidRequest
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection
from tarif_postgres.queries import arrays

log = logging.getLogger(__name__)
B = queries.load("bills")


async def open_bills(
    conn: TarifConnection,
    at: datetime,
    profile_ids: Sequence[int] | None = None,
    limit: int = 10_000,
    after: int = 0,
) -> tuple[int, int | None]:
    """Give up to `limit` profiles without bills (ids above `after`) their active and inactive
    ones. Returns how many were opened and the last profile id looked at (None: none was left),
    to go on from there: a profile whose rule cannot be is logged and passed over, not met again."""
    rows = await conn.fetch(B.profiles_without_bills, profile_ids, limit, after)
    bills: list[list[Any]] = []
    for row in rows:
        try:
            rule = cycle_rule(row)
        except InvalidRequest as exc:
            log.error("profile_cycle_invalid", extra={"profile": row["id"], "error": str(exc)})
            continue
        first = cycle_at(rule, min(row["opened_at"], at))
        for status, cycle in (("active", first), ("inactive", next_cycle(rule, first))):
            bills.append(bill_row(row["id"], row["customer_id"], status, row["currency"], cycle))
    if bills:
        await conn.execute(B.insert_bills, *arrays(bills, 7))
    return len(bills) // 2, (int(rows[-1]["id"]) if rows else None)


def bill_row(
    profile_id: int, customer_id: int, status: str, currency: str, cycle: Cycle
) -> list[Any]:
    """One cycle's bill as `insert_bills` takes it."""
    return [profile_id, customer_id, status, currency, cycle.start, cycle.end, "cycle"]
