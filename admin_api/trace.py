"""One charge's path, for operators (`GET /v1/usage/{event_id}/trace`, `tarif trace`): the answer
the engine keeps for its retries, the rated record with the request id of the call that charged
it, its refunds, the bill and usage item that took it, and the invoice line made from that item.

What is kept and what is derived (docs/tracing.md): the stored answer is found by its key, the
record by its primary key (with the subscriber; without it every partition is read), and an
invoice line names its bill item. A rated record names no bill item: cycle bills sum records per
balance group, service and rate, so the bill is derived (the first billed after the record was
stored whose usage limit is past its event time) and the item is the sum the record is part of.
Records a usage bill collected name that bill (`collected_bill_id`). `notes` says which applied.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from admin_api import bills
from tarif_balances.model import Money
from tarif_balances.ports import StoredAnswer
from tarif_balances.records import impacts_text
from tarif_balances.store import RedisBalanceStore
from tarif_common import keys
from tarif_common.errors import Conflict, InvalidRequest, NotFound
from tarif_postgres import queries

Q = queries.load("trace")

ANYWHERE_LIMIT = 10  # accounts shown when an event id was charged on several

DERIVED_BILL = (
    "rated records are not linked to bill items one by one: the bill is the first of the"
    " profile's bills billed after the record was stored whose usage limit is past its event"
    " time (a record stored while that bill was being made goes on the next one), and the"
    " usage item sums every record of the balance group, service and rate on it"
)
COLLECTED_BILL = (
    "a usage bill collected the record (rated_events.collected_bill_id); the usage item sums"
    " the product's records of the balance group, service and rate"
)


def _decimal(money: Money | None) -> str | None:
    if money is None:
        return None
    return str(Decimal(money.minor_units).scaleb(-money.decimals))


def answer_view(stored: StoredAnswer) -> dict[str, Any]:
    """The stored answer as the trace shows it (amounts as decimal text)."""
    outcome = stored.outcome
    return {
        "result": outcome.result.name,
        "message": outcome.message,
        "granted_units": outcome.granted_units,
        "rated_units": outcome.rated_units,
        "cost": _decimal(outcome.cost),
        "currency": outcome.cost.currency if outcome.cost else "",
        "refunded": _decimal(stored.refunded),
        "tariff": outcome.tariff,
        "rate": outcome.rate,
        "impacts": impacts_text(outcome.impacts),
        "fingerprinted": stored.fingerprinted,
        "expires_in": stored.expires_in,
    }


async def _records(
    conn: asyncpg.Connection, store: RedisBalanceStore, request_id: str, subscriber: str | None
) -> tuple[list[asyncpg.Record], list[str]]:
    """The request's rated records, and the accounts the subscriber names (none without)."""
    if subscriber is None:
        return await conn.fetch(Q.traced_records_anywhere, request_id, ANYWHERE_LIMIT), []
    accounts = [r["account_id"] for r in await conn.fetch(Q.accounts_of_identifier, subscriber)]
    (route,) = await store.resolve_many([subscriber])
    if route is not None and route.account not in accounts:
        accounts.append(route.account)
    return await conn.fetch(Q.traced_records, accounts, request_id), accounts


async def trace(
    conn: asyncpg.Connection,
    store: RedisBalanceStore,
    event_id: str,
    subscriber: str | None = None,
) -> dict[str, Any]:
    """The path of charged event `event_id` (`e:` optional); `subscriber` narrows the search to
    its accounts (now: the Postgres service and the engine's route)."""
    event_id = event_id.removeprefix("e:")
    if not keys.ID_PATTERN.fullmatch(event_id):
        raise InvalidRequest("event_id", "is not an event id")
    records, accounts = await _records(conn, store, keys.event_request_id(event_id), subscriber)
    charged_on = sorted({r["account_id"] for r in records})
    if len(charged_on) > 1:
        raise Conflict(
            f"event id {event_id!r} was charged on accounts {', '.join(charged_on)}:"
            " give the subscriber"
        )
    record = records[0] if records else None
    notes: list[str] = []
    if record is not None:
        account = record["account_id"]
    elif len(accounts) == 1:
        account = accounts[0]
    else:
        where = f"subscriber {subscriber}'s accounts" if subscriber else "Postgres"
        hint = "" if subscriber else " (give the subscriber to look for the engine's answer)"
        raise NotFound(f"no rated record of event {event_id!r} in {where}{hint}")
    stored = await store.stored_event_answer(account, event_id)
    if stored is None and record is None:
        raise NotFound(f"no charge of event {event_id!r} on account {account}")
    if stored is None:
        notes.append("the engine no longer keeps its answer (kept TARIF_IDEMPOTENCY_TTL)")
    traced: dict[str, Any] = {
        "event_id": event_id,
        "account_id": account,
        "answer": None if stored is None else answer_view(stored),
        "record": None,
        "refunds": [],
        "bill": None,
        "billed": False,
        "bill_items": [],
        "invoice_lines": [],
        "notes": notes,
    }
    if record is None:
        notes.append(
            "no rated record in Postgres yet: the batch stores it from the engine's stream"
            " (or the charge moved nothing, so none was written)"
        )
        return traced
    traced["record"] = dict(record)
    traced["refunds"] = [dict(r) for r in await conn.fetch(Q.traced_refunds, account, event_id)]
    await _billing(conn, record, traced)
    return traced


async def _billing(
    conn: asyncpg.Connection, record: asyncpg.Record, traced: dict[str, Any]
) -> None:
    """The bill, usage items and invoice lines of a stored record, into `traced`."""
    notes: list[str] = traced["notes"]
    group = await conn.fetchrow(Q.traced_group, record["account_id"])
    if group is None or group["billing_profile_id"] is None:
        notes.append(
            f"account {record['account_id']} has no billing profile in Postgres (provisioned"
            " from a file, not through the admin API): no bill takes its usage"
        )
        return
    bill_id = record["collected_bill_id"]
    if bill_id is not None:
        notes.append(COLLECTED_BILL)
    else:
        bill_id = await conn.fetchval(
            Q.traced_cycle_bill,
            group["billing_profile_id"],
            record["event_time"],
            record["ingested_at"],
        )
        if bill_id is not None:
            notes.append(DERIVED_BILL)
    if bill_id is None:
        active = await conn.fetchval(Q.traced_active_bill, group["billing_profile_id"])
        notes.append(
            "not billed yet: the record goes on the profile's active bill (or a later one)"
            " when its cycle is billed"
        )
        if active is not None:
            traced["bill"] = await bills.get_bill(conn, active)
        return
    bill = await bills.get_bill(conn, bill_id)
    traced["bill"], traced["billed"] = bill, True
    items = [
        dict(r)
        for r in await conn.fetch(
            Q.traced_items, bill_id, group["id"], record["service"], record["rate"]
        )
    ]
    traced["bill_items"] = items
    due = [item["id"] for item in items if not item["informational"]]
    if items and not due:
        notes.append(
            "prepaid: the usage item is informational (paid from the balance), so no invoice"
            " line shows it"
        )
    if bill["invoice_id"] is None:
        notes.append("the bill has no invoice yet")
        return
    if bill["invoice_status"] == "failed":
        notes.append("the bill's invoice failed: it has no number (see its error)")
    if due:
        lines = await conn.fetch(Q.traced_invoice_lines, bill_id, due)
        traced["invoice_lines"] = [dict(r) for r in lines]
        notes.append("an invoice line names the bill item it was made from")
