"""Job type payment_collection on real Postgres against the sandbox gateway (a real local HTTP
server): cards approved, declined, failing transiently then approved, retried by the schedule,
never charged twice (a second run, a crash between the charge and its record); direct-debit
customers collected once through SEPA; criteria and a retry's `only`; the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from billing_batch.jobs import payment_collection
from billing_batch.jobs.context import JobContext
from billing_batch.jobs.registry import run_once_of
from loadtest.gateway_sandbox import Sandbox, running
from tarif_billing.gateway import attempts
from tarif_billing.gateway.http import HttpGateway
from tarif_billing.gateway.protocol import Approved, Charge, Declined, GatewayError, Outcome, Refund
from tarif_billing.payments import PaymentIn, record_payments
from tarif_common.errors import InvalidRequest
from tarif_common.settings import Settings
from tarif_jobs.criteria import Criteria
from tarif_jobs.items import RunItems
from tarif_jobs.runs import ItemRef, RunRequest
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.test_sepa import SEPA_SETTINGS, Invoices, direct_debit

NOW = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PROBLEM = "application/problem+json"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with running() as gateway:
        yield gateway


def settings(sandbox: Sandbox | None, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": "redis://unused",
        "database_url": "postgresql://unused",
        "environment": "test",
        "payment_gateway_backoff": 0.01,
    }
    if sandbox is not None:
        values |= {"payment_gateway_url": sandbox.url, "payment_gateway_key": sandbox.key}
    return Settings(**(values | changes))


@pytest.fixture
def ctx(admin: Admin, sandbox: Sandbox) -> JobContext:
    return JobContext(admin.pool, admin.engine.redis, settings(sandbox))


async def card(admin: Admin, msisdn: str, token: str, **account: Any) -> dict[str, Any]:
    payment = {"method": "credit_card", "holder": "Ana Novak", "gateway": "sandbox",
               "token": token}  # fmt: skip
    body = onboarding(msisdn, payment=payment)
    body["account"].update(account)
    answer = await admin.call("POST", "/v1/customers", json=body)
    assert answer.status_code == 201, answer.text
    customer: dict[str, Any] = answer.json()
    return customer


async def debit(admin: Admin, msisdn: str, mandate: str) -> dict[str, Any]:
    body = onboarding(msisdn, payment=direct_debit(mandate))
    answer = await admin.call("POST", "/v1/customers", json=body)
    assert answer.status_code == 201, answer.text
    customer: dict[str, Any] = answer.json()
    return customer


async def invoice(admin: Admin, customer: dict[str, Any], total: str, *args: Any, **kw: Any) -> int:
    async with admin.pool.acquire() as conn:
        return await Invoices(conn).make(customer, total, *args, **kw)


async def run(
    ctx: JobContext, at: datetime = NOW, *, only: set[ItemRef] | None = None, **criteria: Any
) -> dict[str, Any]:
    """One run of the job as the worker runs it: a job_runs row, its items, its counts."""
    async with ctx.pool.acquire() as conn:
        run_id = await conn.fetchval(
            "INSERT INTO job_runs (job_type, job_name, trigger, process_now, status)"
            " VALUES ('payment_collection', 'collect', 'manual', $1, 'running') RETURNING id",
            at,
        )
    items = RunItems(ctx.pool, run_id, "payment_collection")
    request = RunRequest(at, criteria, frozenset(only) if only else None, run_id)
    await run_once_of("payment_collection")(ctx, request, items)
    await items.flush()
    async with ctx.pool.acquire() as conn:
        counts = await conn.fetchrow(
            "SELECT total, succeeded, failed FROM job_runs WHERE id = $1", run_id
        )
        failed = await conn.fetch(
            "SELECT object_type, object_id, error, cause FROM job_run_items WHERE run_id = $1"
            " ORDER BY object_id",
            run_id,
        )
    return {"id": run_id, "counts": tuple(counts), "failed": [dict(r) for r in failed]}


async def attempts_of(pool: asyncpg.Pool, invoice_id: int) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT attempt, status, code, idempotency_key, token, amount, sends, next_retry_at,"
            " gave_up, payment_id FROM payment_attempts WHERE invoice_id = $1 ORDER BY attempt",
            invoice_id,
        )
    return [dict(r) for r in rows]


async def invoice_state(pool: asyncpg.Pool, invoice_id: int) -> tuple[str, Decimal]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, amount_due FROM invoices WHERE id = $1", invoice_id
        )
    return row["status"], row["amount_due"]


async def payments(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT request_id, method, provider, reference, amount, invoice_id, to_credit"
            " FROM payments ORDER BY id"
        )
        journal = await conn.fetchrow("SELECT sum(debit) AS d, sum(credit) AS c FROM journal_lines")
    assert journal["d"] == journal["c"]
    return [dict(r) for r in rows]


async def test_approved_declined_and_transient_then_approved(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    ana = await card(admin, "38640800001", "tok_ok_ana")
    bo = await card(admin, "38640800002", "tok_decline_insufficient_funds")
    cy = await card(admin, "38640800003", "tok_flaky_2")
    dee = await card(admin, "38640800004", "tok_decline_expired_card")
    inv = {
        "ana": await invoice(admin, ana, "12.30"),
        "ana-later": await invoice(admin, ana, "5.00", date(2026, 12, 20)),  # not due yet
        "bo": await invoice(admin, bo, "20.00"),
        "cy": await invoice(admin, cy, "7.50"),
        "dee": await invoice(admin, dee, "9.99"),
    }
    first = await run(ctx)
    assert first["counts"] == (4, 2, 2)
    assert {(f["object_type"], int(f["object_id"])) for f in first["failed"]} == {
        ("invoice", inv["bo"]),
        ("invoice", inv["dee"]),
    }
    assert "insufficient_funds" in next(
        f["error"] for f in first["failed"] if int(f["object_id"]) == inv["bo"]
    )
    # ana and cy paid once each; cy after two 503s, all three sends under one key
    assert [(c["token"], c["amount"]) for c in sandbox.charged()] == [
        ("tok_ok_ana", "12.30"),
        ("tok_flaky_2", "7.50"),
    ]
    assert await invoice_state(admin.pool, inv["ana"]) == ("closed", Decimal(0))
    assert await invoice_state(admin.pool, inv["cy"]) == ("closed", Decimal(0))
    assert await invoice_state(admin.pool, inv["bo"]) == ("billing", Decimal("20.00"))
    assert await invoice_state(admin.pool, inv["ana-later"]) == ("billing", Decimal("5.00"))
    (cy_attempt,) = await attempts_of(admin.pool, inv["cy"])
    assert (cy_attempt["status"], cy_attempt["sends"]) == ("succeeded", 3)
    recorded = await payments(admin.pool)
    assert [(p["method"], p["provider"], p["amount"]) for p in recorded] == [
        ("credit_card", "sandbox", Decimal("12.30")),
        ("credit_card", "sandbox", Decimal("7.50")),
    ]
    assert {p["reference"] for p in recorded} == {c["id"] for c in sandbox.charged()}
    (bo_attempt,) = await attempts_of(admin.pool, inv["bo"])
    assert bo_attempt["status"] == "declined"
    assert bo_attempt["next_retry_at"] == NOW + DAY  # the schedule: +1 day
    (dee_attempt,) = await attempts_of(admin.pool, inv["dee"])
    assert (dee_attempt["code"], dee_attempt["next_retry_at"]) == ("expired_card", None)
    async with admin.pool.acquire() as conn:
        logged = await conn.fetch(
            "SELECT object_id, cause FROM activity_log WHERE process = 'payment_collection'"
        )
        alerts = await conn.fetchval("SELECT count(*) FROM alerts WHERE acknowledged_at IS NULL")
    assert {int(r["object_id"]) for r in logged} == {inv["bo"], inv["dee"]}
    assert alerts >= 1

    # the same "process now" again: nothing is charged or tried twice
    requests = sandbox.requests
    again = await run(ctx)
    assert again["counts"] == (0, 0, 0)
    assert sandbox.requests == requests
    # a day later bo is tried again (a new key), dee is not (a hard decline)
    later = await run(ctx, NOW + DAY)
    assert later["counts"] == (1, 0, 1)
    bo_attempts = await attempts_of(admin.pool, inv["bo"])
    assert [(a["attempt"], a["idempotency_key"]) for a in bo_attempts] == [
        (1, f"tarif-{inv['bo']}-1"),
        (2, f"tarif-{inv['bo']}-2"),
    ]
    assert bo_attempts[1]["next_retry_at"] == NOW + 4 * DAY  # +3 days after the second
    # dee's card is replaced: the next run charges it, whatever the schedule
    changed = await admin.call(
        "PUT",
        f"/v1/customers/{dee['id']}/payment",
        json={"payment": {"method": "credit_card", "holder": "Dee", "gateway": "sandbox",
                          "token": "tok_ok_dee_new"}},
    )  # fmt: skip
    assert changed.status_code == 200, changed.text
    renewed = await run(ctx, NOW + DAY)
    assert renewed["counts"] == (1, 1, 0)
    assert await invoice_state(admin.pool, inv["dee"]) == ("closed", Decimal(0))
    assert len(sandbox.charged()) == 3


async def test_the_schedule_runs_out_then_the_job_gives_up_and_alerts(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    bo = await card(admin, "38640800011", "tok_decline_insufficient_funds")
    bo_invoice = await invoice(admin, bo, "20.00")
    at = NOW
    for step in (0, 1, 3, 7, 0):  # tried at day 0, +1, +3, +7 (4 failures): then given up
        at += step * DAY
        await run(ctx, at)
    tried = await attempts_of(admin.pool, bo_invoice)
    assert [a["attempt"] for a in tried] == [1, 2, 3, 4]
    assert (tried[-1]["gave_up"], tried[-1]["next_retry_at"]) == (True, None)
    assert sandbox.declines == 4
    async with admin.pool.acquire() as conn:
        critical = await conn.fetch(
            "SELECT object_id, cause FROM alerts WHERE severity = 'critical'"
        )
    assert [(r["object_id"], r["cause"]) for r in critical] == [
        (str(bo_invoice), "the retry schedule ran out")
    ]
    assert (await run(ctx, at + 30 * DAY))["counts"] == (0, 0, 0)


async def test_an_error_is_sent_again_under_the_same_key(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    # 503 five times: a run sends it 4 times (3 retries), the next one twice more: approved
    cy = await card(admin, "38640800021", "tok_flaky_5")
    cy_invoice = await invoice(admin, cy, "7.50")
    first = await run(ctx)
    assert first["counts"] == (1, 0, 1)
    assert "unavailable" in first["failed"][0]["error"]
    (error,) = await attempts_of(admin.pool, cy_invoice)
    assert (error["status"], error["sends"], error["next_retry_at"]) == ("error", 4, NOW + DAY)
    assert (await run(ctx, NOW + DAY))["counts"] == (1, 1, 0)
    tried = await attempts_of(admin.pool, cy_invoice)
    assert [(a["status"], a["idempotency_key"]) for a in tried] == [
        ("error", f"tarif-{cy_invoice}-1"),
        ("succeeded", f"tarif-{cy_invoice}-1"),
    ]
    assert len(sandbox.charged()) == 1


class Crash(BaseException):
    """The process dies: nothing after this line of the run happens."""


class DiesAfterCharging:
    """The real gateway; the process dies right after the gateway charged the card."""

    def __init__(self, gateway: HttpGateway) -> None:
        self.gateway = gateway

    async def charge(self, charge: Charge) -> Outcome:
        outcome = await self.gateway.charge(charge)
        raise Crash(outcome)

    async def refund(self, refund: Refund) -> Outcome:
        return await self.gateway.refund(refund)


async def test_a_crash_between_the_charge_and_its_record_charges_once(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    ana = await card(admin, "38640800031", "tok_ok_ana")
    ana_invoice = await invoice(admin, ana, "12.30")
    rules = attempts.Rules.from_settings(ctx.settings)
    run_id = (await run(ctx, NOW - 30 * DAY))["id"]  # a run row to resume (nothing was due)
    request = RunRequest(NOW, {}, None, run_id)
    items = RunItems(ctx.pool, run_id, "payment_collection")
    async with HttpGateway.from_settings(ctx.settings) as real:
        with pytest.raises(Crash):
            await payment_collection.collect_cards(
                ctx, request, items, DiesAfterCharging(real), Criteria(), rules
            )
    assert len(sandbox.charged("tok_ok_ana")) == 1  # the card was charged ...
    assert await payments(admin.pool) == []  # ... and nothing was recorded
    (pending,) = await attempts_of(admin.pool, ana_invoice)
    assert pending["status"] == "pending"
    # another run meanwhile leaves the claimed attempt alone (its claim has not run out)
    assert (await run(ctx))["counts"] == (0, 0, 0)
    # the run resumed: the same key again, the gateway answers its charge, recorded once
    async with HttpGateway.from_settings(ctx.settings) as real:
        await payment_collection.collect_cards(ctx, request, items, real, Criteria(), rules)
    await items.flush()
    assert len(sandbox.charged("tok_ok_ana")) == 1
    (recorded,) = await payments(admin.pool)
    assert (recorded["request_id"], recorded["amount"]) == (
        f"card:tarif-{ana_invoice}-1",
        Decimal("12.30"),
    )
    assert await invoice_state(admin.pool, ana_invoice) == ("closed", Decimal(0))
    (done,) = await attempts_of(admin.pool, ana_invoice)
    assert (done["status"], done["sends"]) == ("succeeded", 1)
    assert (await run(ctx))["counts"] == (0, 0, 0)
    assert len(sandbox.charged()) == 1


async def test_an_attempt_left_pending_by_another_run_is_finished_once_its_claim_ran_out(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    ana = await card(admin, "38640800032", "tok_ok_ana")
    ana_invoice = await invoice(admin, ana, "3.00")
    rules = attempts.Rules.from_settings(ctx.settings)
    request = RunRequest(NOW, {}, None, None)
    items = RunItems(ctx.pool, (await run(ctx, NOW - 30 * DAY))["id"], "payment_collection")
    async with HttpGateway.from_settings(ctx.settings) as real:
        with pytest.raises(Crash):
            await payment_collection.collect_cards(
                ctx, request, items, DiesAfterCharging(real), Criteria(), rules
            )
    async with admin.pool.acquire() as conn:  # time passes: the claim runs out
        await conn.execute("UPDATE payment_attempts SET claimed_until = now() - interval '1s'")
    assert (await run(ctx))["counts"] == (1, 1, 0)
    assert len(sandbox.charged()) == 1
    assert [p["amount"] for p in await payments(admin.pool)] == [Decimal("3.00")]
    assert await invoice_state(admin.pool, ana_invoice) == ("closed", Decimal(0))


async def test_an_approval_postgres_refuses_stays_pending_and_is_recorded_later(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    ana = await card(admin, "38640800033", "tok_ok_ana")
    bo = await card(admin, "38640800034", "tok_ok_bo")
    ana_invoice, bo_invoice = await invoice(admin, ana, "12.30"), await invoice(admin, bo, "7.00")
    async with admin.pool.acquire() as conn:  # Postgres refuses bo's payment for a while
        await conn.execute(
            "CREATE FUNCTION refuse_payment() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$;"
            " CREATE TRIGGER refuse_payment BEFORE INSERT ON payments FOR EACH ROW"
            " WHEN (NEW.amount = 7.00) EXECUTE FUNCTION refuse_payment()"
        )
    try:
        first = await run(ctx)
    finally:
        async with admin.pool.acquire() as conn:
            await conn.execute(
                "DROP TRIGGER refuse_payment ON payments; DROP FUNCTION refuse_payment()"
            )
    assert first["counts"] == (2, 1, 1)  # the chunk's batch failed: recorded one by one
    assert "refused for the test" in first["failed"][0]["error"]
    assert await invoice_state(admin.pool, ana_invoice) == ("closed", Decimal(0))
    (pending,) = await attempts_of(admin.pool, bo_invoice)
    assert (pending["status"], pending["sends"]) == ("pending", 1)
    async with admin.pool.acquire() as conn:  # time passes: the first run's claim runs out
        await conn.execute("UPDATE payment_attempts SET claimed_until = now() - interval '1s'")
    assert (await run(ctx))["counts"] == (1, 1, 0)
    assert await invoice_state(admin.pool, bo_invoice) == ("closed", Decimal(0))
    (done,) = await attempts_of(admin.pool, bo_invoice)
    assert (done["status"], done["sends"]) == ("succeeded", 2)
    assert sorted(c["token"] for c in sandbox.charged()) == ["tok_ok_ana", "tok_ok_bo"]
    assert [p["amount"] for p in await payments(admin.pool)] == [Decimal("12.30"), Decimal("7.00")]


async def test_direct_debit_customers_are_collected_once_through_sepa(
    admin: Admin, sandbox: Sandbox
) -> None:
    ctx = JobContext(admin.pool, admin.engine.redis, settings(sandbox, **SEPA_SETTINGS))
    ana = await debit(admin, "38640800041", "M-ANA")
    bo = await debit(admin, "38640800042", "M-BO")
    cy = await card(admin, "38640800043", "tok_ok_cy")
    due = [await invoice(admin, ana, "12.30"), await invoice(admin, bo, "20.00")]
    cy_invoice = await invoice(admin, cy, "5.00")
    dee = await debit(admin, "38640800044", "M-DEE")
    async with admin.pool.acquire() as conn:  # a customer whose mandate was lost
        await conn.execute(
            "UPDATE sepa_mandates SET status = 'revoked', revoked_at = now()"
            " WHERE customer_id = $1",
            dee["id"],
        )
    dee_invoice = await invoice(admin, dee, "4.00")

    first = await run(ctx)
    assert first["counts"] == (4, 3, 1)  # cy's card, ana's and bo's debits; dee: no mandate
    assert [int(f["object_id"]) for f in first["failed"]] == [dee_invoice]
    assert "no active mandate" in first["failed"][0]["error"]
    async with admin.pool.acquire() as conn:
        collections = await conn.fetch("SELECT id, document FROM sepa_collections")
        items = await conn.fetch("SELECT invoice_id FROM sepa_collection_items ORDER BY id")
    assert len(collections) == 1
    assert sorted(r["invoice_id"] for r in items) == sorted(due)
    assert "<CtrlSum>32.30</CtrlSum>" in collections[0]["document"]
    assert await invoice_state(admin.pool, cy_invoice) == ("closed", Decimal(0))
    # again, the same day or later: the invoices stay in their one open collection
    assert (await run(ctx))["counts"] == (1, 0, 1)  # only dee, still without a mandate
    assert (await run(ctx, NOW + 3 * DAY))["counts"] == (1, 0, 1)
    async with admin.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM sepa_collections") == 1
        assert await conn.fetchval("SELECT count(*) FROM sepa_collection_items") == 2


async def test_criteria_and_a_retry_s_only_choose_the_invoices(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    ana = await card(admin, "38640800051", "tok_ok_ana")
    bo = await card(admin, "38640800052", "tok_decline_do_not_honor", customer_type="business")
    cy = await card(admin, "38640800053", "tok_ok_cy", customer_type="business")
    ana_invoice = await invoice(admin, ana, "1.00")
    bo_invoice = await invoice(admin, bo, "2.00")
    cy_invoice = await invoice(admin, cy, "3.00")

    business = await run(ctx, customer_types=["business"])
    assert business["counts"] == (2, 1, 1)
    assert await invoice_state(admin.pool, ana_invoice) == ("billing", Decimal("1.00"))
    assert await invoice_state(admin.pool, cy_invoice) == ("closed", Decimal(0))
    # bo's card is fixed; a retry of the run re-does only its failed invoice, at once
    async with admin.pool.acquire() as conn:
        await conn.execute(
            'UPDATE customers SET payment_info = payment_info || \'{"token": "tok_ok_bo"}\''
            " WHERE id = $1",
            bo["id"],
        )
    retried = await run(ctx, only={ItemRef("invoice", str(bo_invoice))})
    assert retried["counts"] == (1, 1, 0)
    assert await invoice_state(admin.pool, bo_invoice) == ("closed", Decimal(0))
    assert await invoice_state(admin.pool, ana_invoice) == ("billing", Decimal("1.00"))
    assert (await run(ctx, customer_ids=[ana["id"]]))["counts"] == (1, 1, 0)
    assert {c["token"] for c in sandbox.charged()} == {"tok_ok_ana", "tok_ok_bo", "tok_ok_cy"}


async def test_without_a_gateway_due_card_invoices_are_a_failed_item(admin: Admin) -> None:
    ctx = JobContext(admin.pool, admin.engine.redis, settings(None))
    ana = await card(admin, "38640800061", "tok_ok_ana")
    await invoice(admin, ana, "1.00")
    result = await run(ctx)
    assert result["counts"] == (1, 0, 1)
    assert result["failed"][0]["cause"] == "TARIF_PAYMENT_GATEWAY_URL is not set"


async def test_the_gateway_client_speaks_the_wire_protocol(sandbox: Sandbox) -> None:
    async with HttpGateway(sandbox.url, sandbox.key, timeout=2) as gateway:
        charge = Charge("tok_ok_x", Decimal("10.00"), "EUR", "k-1", reference="INV-1")
        approved = await gateway.charge(charge)
        assert isinstance(approved, Approved)
        assert not approved.replayed
        replayed = await gateway.charge(charge)
        assert replayed == Approved(approved.id, Decimal("10.00"), "EUR", replayed=True)
        reused = await gateway.charge(Charge("tok_ok_x", Decimal("11.00"), "EUR", "k-1"))
        assert isinstance(reused, GatewayError)
        assert (reused.code, reused.transient) == ("idempotency_key_reused", False)
        refund = await gateway.refund(Refund(approved.id, Decimal("4.00"), "EUR", "r-1"))
        assert isinstance(refund, Approved)
        too_much = await gateway.refund(Refund(approved.id, Decimal("7.00"), "EUR", "r-2"))
        assert too_much == Declined("amount_exceeds_charge", "more than was charged")
        down = await gateway.charge(Charge("tok_down", Decimal("1.00"), "EUR", "k-2"))
        assert isinstance(down, GatewayError)
        assert down.transient
    async with HttpGateway(sandbox.url, "sk_wrong", timeout=2) as wrong:
        refused = await wrong.charge(Charge("tok_ok_x", Decimal("1.00"), "EUR", "k-3"))
        assert isinstance(refused, GatewayError)
        assert (refused.code, refused.transient) == ("unauthorized", False)
    async with HttpGateway("http://127.0.0.1:9", "k", timeout=1) as nowhere:
        unreachable = await nowhere.charge(Charge("tok_ok_x", Decimal("1.00"), "EUR", "k-4"))
        assert isinstance(unreachable, GatewayError)
        assert (unreachable.code, unreachable.transient) == ("unreachable", True)
    assert len(sandbox.charged()) == 1


# -- the API ----------------------------------------------------------------------------------


async def test_attempts_are_listed_and_a_failed_one_retried(
    admin: Admin, ctx: JobContext, sandbox: Sandbox
) -> None:
    admin.app.state.settings = ctx.settings
    ana = await card(admin, "38640800071", "tok_ok_ana")
    bo = await card(admin, "38640800072", "tok_decline_insufficient_funds")
    ana_invoice = await invoice(admin, ana, "12.30")
    bo_invoice = await invoice(admin, bo, "20.00")
    await run(ctx)
    listed = await admin.call("GET", "/v1/payment-attempts", "auditor")
    assert listed.status_code == 200, listed.text
    by_invoice = {a["invoice_id"]: a for a in listed.json()["items"]}
    assert by_invoice[ana_invoice]["status"] == "succeeded"
    assert by_invoice[ana_invoice]["amount"] == "12.30"
    assert by_invoice[bo_invoice]["code"] == "insufficient_funds"
    declined = await admin.call(
        "GET", "/v1/payment-attempts", "auditor", params={"status": "declined"}
    )
    assert [a["invoice_id"] for a in declined.json()["items"]] == [bo_invoice]
    of_ana = await admin.call("GET", "/v1/payment-attempts", params={"invoice_id": ana_invoice})
    assert [a["invoice_id"] for a in of_ana.json()["items"]] == [ana_invoice]
    empty = await admin.call(
        "GET", "/v1/payment-attempts", params={"created_to": "2000-01-01T00:00:00Z"}
    )
    assert empty.json()["items"] == []
    bad = await admin.call("GET", "/v1/payment-attempts", params={"status": "lost"})
    assert (bad.status_code, bad.headers["content-type"]) == (422, PROBLEM)

    bo_attempt = by_invoice[bo_invoice]["id"]
    path = f"/v1/payment-attempts/{bo_attempt}/retry"
    assert (await admin.call("POST", path, "auditor")).status_code == 403
    again = await admin.call("POST", path, "operator")  # still declined: a new attempt
    assert again.status_code == 200, again.text
    assert (again.json()["attempt"], again.json()["status"]) == (2, "declined")
    assert again.json()["trigger"] == "retry"
    stale = await admin.call("POST", path)  # no longer the latest
    assert (stale.status_code, stale.headers["content-type"]) == (409, PROBLEM)
    async with admin.pool.acquire() as conn:
        await conn.execute(
            'UPDATE customers SET payment_info = payment_info || \'{"token": "tok_ok_bo"}\''
            " WHERE id = $1",
            bo["id"],
        )
    paid = await admin.call("POST", f"/v1/payment-attempts/{again.json()['id']}/retry")
    assert paid.status_code == 200, paid.text
    assert (paid.json()["status"], paid.json()["attempt"]) == ("succeeded", 3)
    assert paid.json()["payment_id"] is not None
    assert await invoice_state(admin.pool, bo_invoice) == ("closed", Decimal(0))
    done = await admin.call("POST", f"/v1/payment-attempts/{paid.json()['id']}/retry")
    assert done.status_code == 409
    missing = await admin.call("POST", "/v1/payment-attempts/999999/retry")
    assert (missing.status_code, missing.headers["content-type"]) == (404, PROBLEM)
    log = await admin.call("GET", "/v1/audit-log", params={"object_type": "payment_attempt"})
    assert [e["action"] for e in log.json()["items"]] == ["payment_attempt.retry"] * 2
    assert len(sandbox.charged()) == 2


async def test_a_retry_without_a_gateway_is_refused(admin: Admin, ctx: JobContext) -> None:
    bo = await card(admin, "38640800081", "tok_decline_insufficient_funds")
    await invoice(admin, bo, "20.00")
    await run(ctx)
    attempt = (await admin.call("GET", "/v1/payment-attempts")).json()["items"][0]["id"]
    refused = await admin.call("POST", f"/v1/payment-attempts/{attempt}/retry")
    assert (refused.status_code, refused.headers["content-type"]) == (409, PROBLEM)
    assert "TARIF_PAYMENT_GATEWAY_URL" in refused.json()["detail"]


async def test_a_batch_of_payments_follows_the_rules_of_one(admin: Admin) -> None:
    ana = await card(admin, "38640800091", "tok_ok_ana")
    first, second = await invoice(admin, ana, "10.00"), await invoice(admin, ana, "8.00")
    async with admin.pool.acquire() as conn:
        profile = await conn.fetchval(
            "SELECT id FROM billing_profiles WHERE customer_id = $1", ana["id"]
        )

    def pay(request: str, amount: str, invoice_id: int, currency: str = "EUR") -> PaymentIn:
        return PaymentIn(request, profile, "charge", "credit_card", Decimal(amount), currency,
                         invoice_id=invoice_id)  # fmt: skip

    async with admin.pool.acquire() as conn, conn.transaction():
        ids = await record_payments(
            conn,
            [
                pay("b-1", "10.00", first),  # pays it: set-based
                pay("b-2", "5.00", second),  # part of it: set-based
                pay("b-3", "4.00", second),  # more than is left: 3.00 paid, 1.00 to credit
                pay("b-1", "10.00", first),  # the same request again: the same payment
            ],
        )
        assert ids[0] == ids[3]
        assert len(set(ids)) == 3
        with pytest.raises(InvalidRequest):  # another currency: refused as one payment is
            async with conn.transaction():
                await record_payments(conn, [pay("b-4", "1.00", second, "USD")])
    assert await invoice_state(admin.pool, first) == ("closed", Decimal(0))
    assert await invoice_state(admin.pool, second) == ("closed", Decimal(0))
    assert [(p["request_id"], p["amount"], p["to_credit"]) for p in await payments(admin.pool)] == [
        ("b-1", Decimal("10.00"), Decimal(0)),
        ("b-2", Decimal("5.00"), Decimal(0)),
        ("b-3", Decimal("4.00"), Decimal("1.00")),
    ]
    async with admin.pool.acquire() as conn:
        money = await conn.fetchrow(
            "SELECT pending_total, credit_balance FROM billing_profiles WHERE id = $1", profile
        )
        allocated = await conn.fetchval("SELECT sum(amount) FROM payment_allocations")
    assert (money["credit_balance"], allocated) == (Decimal("1.00"), Decimal("18.00"))
