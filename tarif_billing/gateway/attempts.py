"""Attempts to collect an invoice from the customer's card, in the order that makes a crash
harmless:

1. **claim**: a `pending` attempt row is committed (its idempotency key, token, amount) before
   anything is sent; at most one attempt of an invoice is open (a unique index);
2. **send**: the charge goes to the gateway under the attempt's key, sent again under the same
   key on a transient error (backoff, within the run);
3. **settle**: in one transaction the approved payment is recorded through
   `tarif_billing.payments.record_payment` (request id `card:<key>`) and the attempt marked
   `succeeded`; a decline or an error is marked with its code, message and next try.

A crash between 2 and 3 leaves the attempt `pending`: the next run (the same run resumed at once,
any other once the claim ran out) sends it again under the same key, the gateway answers the
charge it made without taking the money again, and the payment is recorded once. An attempt
that ended in an error may have been charged too: the next attempt sends the same charge again
(same key, token and amount) rather than a new one. Only a decline, a definite no, opens a new
key. docs/payment-collection.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

import asyncpg

from tarif_billing.gateway.policy import next_try
from tarif_billing.gateway.protocol import (
    Approved,
    Charge,
    Declined,
    GatewayError,
    Outcome,
    PaymentGateway,
)
from tarif_billing.payments import PaymentIn, record_payment, record_payments
from tarif_common.errors import (
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    Duplicate,
    MissingReference,
    NotFound,
    TarifError,
)
from tarif_common.settings import Settings
from tarif_jobs.criteria import Criteria
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

Q = queries.load("payment_attempts")
# What a statement may raise: the transaction it ran in is aborted.
_STATEMENT_ERRORS = (DatabaseError, DatabaseUnavailable, Duplicate, MissingReference)
T = TypeVar("T")
Status = Literal["succeeded", "declined", "error", "unrecorded", "elsewhere"]


@dataclass(frozen=True, slots=True)
class Rules:
    """How attempts are sent and retried (Settings `TARIF_PAYMENT_*`)."""

    retries: int = 3  # sends again within a run after a transient error
    backoff: float = 0.5  # seconds before the first of them, doubled each time
    retry_days: tuple[int, ...] = (1, 3, 7)
    chunk: int = 200
    concurrency: int = 16
    claim_seconds: float = 300.0

    @classmethod
    def from_settings(cls, s: Settings) -> Rules:
        return cls(
            s.payment_gateway_retries,
            s.payment_gateway_backoff,
            s.payment_retry_days,
            s.payment_collection_chunk,
            s.payment_collection_concurrency,
            s.payment_claim_seconds,
        )


@dataclass(frozen=True, slots=True)
class Attempt:
    """A claimed (pending) attempt: the charge it sends."""

    id: int
    invoice_id: int
    billing_profile_id: int
    number: str  # the invoice's
    attempt: int
    idempotency_key: str
    gateway: str
    token: str
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Attempt:
        return cls(
            row["id"],
            row["invoice_id"],
            row["billing_profile_id"],
            row["number"],
            row["attempt"],
            row["idempotency_key"],
            row["gateway"],
            row["token"],
            row["amount"],
            row["currency"],
        )

    def charge(self) -> Charge:
        return Charge(
            self.token,
            self.amount,
            self.currency,
            self.idempotency_key,
            reference=self.number,
            description=f"Invoice {self.number}",
        )


@dataclass(frozen=True, slots=True)
class Sent:
    attempt: Attempt
    outcome: Outcome
    sends: int


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of an attempt. `unrecorded`: the gateway answered but Postgres did not take
    the answer (the payment of an approval, say): it stays pending and the next run sends it
    again under its key;
    `elsewhere`: another run settled it meanwhile."""

    attempt: Attempt
    status: Status
    code: str = ""
    message: str = ""
    payment_id: int | None = None
    next_retry_at: datetime | None = None
    gave_up: bool = False

    @property
    def failed(self) -> bool:
        return self.status in ("declined", "error", "unrecorded")

    def describe(self) -> str:
        """One line for the run item, the activity log and the alert."""
        a = self.attempt
        what = f"invoice {a.number}: card payment of {a.amount} {a.currency} (attempt {a.attempt})"
        if self.status == "unrecorded":
            return (
                f"{what}: the gateway's answer is not recorded yet (the next run sends it again"
                f" under its key): {self.message}"
            )
        then = (
            f"next try {self.next_retry_at:%Y-%m-%d %H:%M %Z}"
            if self.next_retry_at
            else "retry schedule exhausted: given up"
            if self.gave_up
            else "not retried until the card changes or an operator retries"
        )
        return f"{what} {self.status}: {self.code}: {self.message} ({then})"

    @property
    def cause(self) -> str:
        if self.status == "declined":
            return f"the card was declined ({self.code})"
        if self.status == "unrecorded":
            return "the payment could not be recorded"
        return f"the payment gateway did not answer usably ({self.code})"


# -- claim ------------------------------------------------------------------------------------


async def claim_due(
    pool: asyncpg.Pool,
    criteria: Criteria,
    process_now: datetime,
    rules: Rules,
    *,
    after: int,
    only: Sequence[int] | None,
    run_id: int | None,
) -> tuple[list[Attempt], int | None]:
    """Open an attempt for each of the next chunk of chargeable invoices after invoice `after`
    (committed before anything is sent). Returns them and the last invoice id looked at (None:
    nothing is left)."""
    condition, values = criteria.where("c", first=7)
    query = queries.compose(Q.claim_due_invoices, criteria=condition)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            query,
            after,
            process_now,
            list(only) if only is not None else None,
            rules.chunk,
            run_id,
            rules.claim_seconds,
            *values,
        )
    if not rows or rows[0]["scanned_to"] is None:
        return [], None
    return [Attempt.of(r) for r in rows if r["id"] is not None], rows[0]["scanned_to"]


async def claim_unfinished(
    pool: asyncpg.Pool,
    criteria: Criteria,
    rules: Rules,
    *,
    after: int,
    only: Sequence[int] | None,
    run_id: int | None,
) -> list[Attempt]:
    """The next pending attempts a crash left (this run's, or others' whose claim ran out),
    after attempt `after`, claimed for this run."""
    condition, values = criteria.where("c", first=6)
    query = queries.compose(Q.claim_unfinished, criteria=condition)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            query,
            run_id,
            list(only) if only is not None else None,
            rules.claim_seconds,
            rules.chunk,
            after,
            *values,
        )
    return sorted((Attempt.of(r) for r in rows), key=lambda a: a.id)


# -- send -------------------------------------------------------------------------------------


async def send(gateway: PaymentGateway, attempt: Attempt, rules: Rules) -> Sent:
    """The attempt's charge, sent again under the same key after a transient error (at most
    `rules.retries` times, waiting `backoff`, doubled each time, or the gateway's Retry-After)."""
    charge = attempt.charge()
    sends = 0
    while True:
        outcome = await gateway.charge(charge)
        sends += 1
        if not (isinstance(outcome, GatewayError) and outcome.transient) or sends > rules.retries:
            return Sent(attempt, outcome, sends)
        wait = rules.backoff * 2 ** (sends - 1)
        if outcome.retry_after is not None:
            wait = max(wait, min(outcome.retry_after, 30.0))
        await asyncio.sleep(wait)


async def send_all(
    gateway: PaymentGateway, attempts: Sequence[Attempt], rules: Rules
) -> list[Sent]:
    """Every attempt's charge, `rules.concurrency` at a time."""
    gate = asyncio.Semaphore(rules.concurrency)

    async def one(attempt: Attempt) -> Sent:
        async with gate:
            return await send(gateway, attempt, rules)

    return await together([one(a) for a in attempts])


async def together(work: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """`asyncio.gather`, except that when one fails the others are cancelled (and waited for)
    rather than left running behind the failure."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# -- settle -----------------------------------------------------------------------------------


async def settle(
    pool: asyncpg.Pool,
    sent: Sequence[Sent],
    rules: Rules,
    *,
    process_now: datetime,
    actor: str = "system",
) -> list[Settled]:
    """Record what the gateway answered: the chunk in one transaction; if Postgres refuses a
    statement of it, each attempt in its own, so one cannot hold back the others."""
    if not sent:
        return []
    async with pool.acquire() as conn:
        try:
            async with conn.transaction():
                settled = await _settle(conn, sent, rules, process_now, actor)
        except _STATEMENT_ERRORS as exc:
            settled = await _one_by_one(conn, sent, rules, process_now, actor, exc)
        refused = [s for s in settled if s.status == "unrecorded"]
        if refused:  # what the attempts say of it (best effort: they stay pending anyway)
            sends = {s.attempt.id: s.sends for s in sent}
            with contextlib.suppress(*_STATEMENT_ERRORS):
                await conn.execute(
                    Q.count_sends,
                    [s.attempt.id for s in refused],
                    [sends[s.attempt.id] for s in refused],
                    [f"not recorded yet: {s.message}"[:1000] for s in refused],
                )
    return settled


async def _one_by_one(
    conn: TarifConnection,
    sent: Sequence[Sent],
    rules: Rules,
    process_now: datetime,
    actor: str,
    error: TarifError,
) -> list[Settled]:
    if len(sent) == 1:
        return [_unrecorded(sent[0], error.message)]
    settled: list[Settled] = []
    for one in sent:
        try:
            async with conn.transaction():
                settled += await _settle(conn, [one], rules, process_now, actor)
        except _STATEMENT_ERRORS as exc:
            settled.append(_unrecorded(one, exc.message))
    return settled


def _unrecorded(sent: Sent, why: str) -> Settled:
    return Settled(sent.attempt, "unrecorded", "not_recorded", why)


async def _settle(
    conn: TarifConnection,
    sent: Sequence[Sent],
    rules: Rules,
    process_now: datetime,
    actor: str,
) -> list[Settled]:
    pending = {r["id"] for r in await conn.fetch(Q.lock_pending, [s.attempt.id for s in sent])}
    settled: list[Settled] = [
        Settled(s.attempt, "elsewhere") for s in sent if s.attempt.id not in pending
    ]
    mine = [s for s in sent if s.attempt.id in pending]
    approved = [s for s in mine if isinstance(s.outcome, Approved)]
    succeeded: list[tuple[Sent, Approved, int]] = []
    if approved:
        recorded = await _record_all(conn, approved, process_now, actor)
        for s, payment_id in zip(approved, recorded, strict=True):
            assert isinstance(s.outcome, Approved)
            if isinstance(payment_id, int):
                succeeded.append((s, s.outcome, payment_id))
                settled.append(Settled(s.attempt, "succeeded", payment_id=payment_id))
            else:  # refused before writing anything: the others go on
                settled.append(_unrecorded(s, payment_id.message))
    failed = [s for s in mine if not isinstance(s.outcome, Approved)]
    if failed:
        counts = {
            r["invoice_id"]: r["failures"]
            for r in await conn.fetch(
                Q.failures_of_invoices, [s.attempt.invoice_id for s in failed]
            )
        }
        rows: list[tuple[Any, ...]] = []
        for s in failed:
            outcome = s.outcome
            assert isinstance(outcome, Declined | GatewayError)
            status: Status = "declined" if isinstance(outcome, Declined) else "error"
            failures = counts.get(s.attempt.invoice_id, 0) + 1
            then = next_try(
                failures,
                process_now,
                rules.retry_days,
                code=outcome.code if status == "declined" else "",
            )
            settled.append(
                Settled(
                    s.attempt, status, outcome.code, outcome.message, None, then.at, then.gave_up
                )
            )
            rows.append(
                (
                    s.attempt.id,
                    status,
                    outcome.code,
                    outcome.message,
                    then.at,
                    then.gave_up,
                    s.sends,
                )
            )
        await conn.execute(Q.settle_failed, *queries.arrays(rows, 7))
    if succeeded:
        await conn.execute(
            Q.settle_succeeded,
            *queries.arrays(((s.attempt.id, a.id, p, s.sends) for s, a, p in succeeded), 4),
        )
    return settled


async def _record_all(
    conn: TarifConnection, approved: Sequence[Sent], process_now: datetime, actor: str
) -> list[int | TarifError]:
    """The approved charges as payments of their invoices, the chunk at once
    (`record_payments`); if one is refused (its invoice was paid meanwhile, say), one by one."""
    payments = [_payment(s, process_now, actor) for s in approved]
    try:
        async with conn.transaction():  # a savepoint: a refusal undoes the batch alone
            return list(await record_payments(conn, payments))
    except _STATEMENT_ERRORS:
        raise
    except TarifError:
        pass
    recorded: list[int | TarifError] = []
    for payment in payments:
        try:
            recorded.append(await _record(conn, payment))
        except _STATEMENT_ERRORS:
            raise
        except TarifError as exc:
            recorded.append(exc)
    return recorded


def _payment(sent: Sent, process_now: datetime, actor: str) -> PaymentIn:
    attempt, approved = sent.attempt, sent.outcome
    assert isinstance(approved, Approved)
    return PaymentIn(
        request_id=f"card:{attempt.idempotency_key}",
        billing_profile_id=attempt.billing_profile_id,
        kind="charge",
        method="credit_card",
        amount=approved.amount,
        currency=approved.currency,
        provider=attempt.gateway or "gateway",
        reference=approved.id,
        note=f"payment attempt {attempt.id} (invoice {attempt.number})",
        invoice_id=attempt.invoice_id,
        received_at=process_now,
        recorded_by=actor,
    )


async def _record(conn: TarifConnection, payment: PaymentIn) -> int:
    """One approved charge as a payment of its invoice; if the invoice was paid meanwhile (the
    money was taken all the same), of the profile's oldest due invoices or its credit balance."""
    try:
        outcome = await record_payment(conn, payment)
    except (Conflict, NotFound) as exc:
        if isinstance(exc, _STATEMENT_ERRORS) or "request id" in exc.message:
            raise
        payment = PaymentIn(**{**_fields(payment), "invoice_id": None})
        outcome = await record_payment(conn, payment)
    return outcome.id


def _fields(payment: PaymentIn) -> dict[str, Any]:
    return {name: getattr(payment, name) for name in PaymentIn.__dataclass_fields__}


# -- an operator's retry -------------------------------------------------------------------------


async def retry(
    pool: asyncpg.Pool, gateway: PaymentGateway, rules: Rules, attempt_id: int, actor: str
) -> Settled:
    """Try a failed attempt's invoice again now: the same charge under the same key after an
    error (it may have been made), a new attempt with the customer's card and the amount due
    now after a decline. `Conflict` when the attempt is not its invoice's latest failed one or
    nothing is due any more; `NotFound` for no such attempt."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(Q.lock_attempt_for_retry, attempt_id)
        if row is None:
            raise NotFound(f"no payment attempt {attempt_id}")
        if row["status"] == "pending":
            raise Conflict(f"payment attempt {attempt_id} is being sent")
        if row["status"] == "succeeded":
            raise Conflict(f"payment attempt {attempt_id} succeeded: nothing to retry")
        if not row["latest"]:
            raise Conflict(
                f"payment attempt {attempt_id} is not the latest of invoice {row['number']}:"
                " retry its latest"
            )
        if row["invoice_status"] != "billing" or row["amount_due"] <= 0:
            raise Conflict(f"invoice {row['number']} is {row['invoice_status']}: nothing is due")
        if row["status"] == "error":
            key, token, gateway_name = row["idempotency_key"], row["token"], row["gateway"]
            amount, currency = row["amount"], row["currency"]
        else:
            if row["payment_method"] != "credit_card" or not row["card_token"]:
                raise Conflict(f"customer {row['customer_id']} has no card to charge")
            key = f"tarif-{row['invoice_id']}-{row['attempt'] + 1}"
            token, gateway_name = row["card_token"], row["card_gateway"]
            amount, currency = row["amount_due"], row["invoice_currency"]
        new_id = await conn.fetchval(
            Q.insert_retry,
            row["invoice_id"],
            row["billing_profile_id"],
            row["customer_id"],
            row["attempt"] + 1,
            key,
            gateway_name,
            token,
            amount,
            currency,
            actor,
            rules.claim_seconds,
        )
        if new_id is None:
            raise Conflict(f"another attempt of invoice {row['number']} is open")
    attempt = Attempt(
        new_id,
        row["invoice_id"],
        row["billing_profile_id"],
        row["number"],
        row["attempt"] + 1,
        key,
        gateway_name,
        token,
        amount,
        currency,
    )
    sent = await send(gateway, attempt, rules)
    (settled,) = await settle(pool, [sent], rules, process_now=datetime.now(UTC), actor=actor)
    return settled
