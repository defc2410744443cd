"""A customer's details with its balances as the engine has them now, or plainly as
provisioned.

The provisioned amount of a balance is what it was given (adjustments and charges move only
the engine's figure), so the details ask the engine. When the engine cannot be reached, or has
no figure for one of the balances (its group has no active service to ask through, or a change
has not reached it yet), every balance is shown as provisioned and `balances_note` says why:
one answer never mixes the two.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from admin_api import balances, customers
from tarif_client.engine import Engine
from tarif_common.errors import StoreUnavailable


async def customer_details(
    conn: asyncpg.Connection, engine: Engine, customer_id: int
) -> dict[str, Any]:
    detail = await customers.get_customer(conn, customer_id)
    provisioned: list[dict[str, Any]] = detail["balances"]
    try:
        live = await balances.live(conn, engine, customer_id)
    except StoreUnavailable as exc:
        return _provisioned(detail, f"the engine cannot be reached ({exc.message})")
    found = {(b["balance_group"], b["id"]): b for b in live}
    missing = [b["id"] for b in provisioned if (b["balance_group"], b["id"]) not in found]
    if missing:
        return _provisioned(
            detail,
            f"the engine has no figure for balance {', '.join(missing)} (no active service to"
            " ask it through, or a change has not reached it yet)",
        )
    now = []
    for b in provisioned:
        figure = found[(b["balance_group"], b["id"])]
        now.append(b | {k: figure[k] for k in ("amount", "reserved", "available")})
    detail = {k: v for k, v in detail.items() if k != "balances_note"}
    return detail | {"balances": now, "balances_source": "live"}


def _provisioned(detail: dict[str, Any], why: str) -> dict[str, Any]:
    note = f"amounts as provisioned, not live: {why}"
    return detail | {"balances_source": "provisioned", "balances_note": note}
