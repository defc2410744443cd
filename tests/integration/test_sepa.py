"""SEPA direct debit through the admin API on real Postgres: mandates (one customer's reference,
a BIC of the IBAN's bank), collections that take each due invoice once, the bank's results
applied once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tarif_billing.reconcile import reconcile_billing
from tarif_billing.runs import run_billing
from tarif_billing.sepa import collections
from tarif_billing.sepa.collections import NothingDue, creditor_of
from tarif_billing.sepa.pain008 import validate
from tests.bank_files import camt054, pain002
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.billing_harness import FACTS, context, postpaid_customer, store_usage

PROBLEM = "application/problem+json"
DE_IBAN = "DE89370400440532013000"  # Commerzbank Köln: COBADEFFXXX in the registry
COLLECT_ON = date(2026, 12, 1)
NOV_END = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
SEPA_SETTINGS = {
    "sepa_creditor_id": "DE98ZZZ09999999999",
    "sepa_creditor_name": "Tarif Telecom",
    "sepa_creditor_iban": "DE02120300000000202051",
    "sepa_creditor_bic": "BYLADEM1001",
}


def with_creditor(admin: Admin) -> None:
    admin.app.state.settings = admin.app.state.settings.model_copy(update=SEPA_SETTINGS)


def direct_debit(reference: str, iban: str = DE_IBAN, bic: str | None = "COBADEFFXXX") -> Any:
    payment = {"method": "direct_debit", "mandate_id": reference,
               "signature_date": "2026-01-15", "iban": iban}  # fmt: skip
    return payment if bic is None else {**payment, "bic": bic}


async def onboard(admin: Admin, msisdn: str, payment: dict[str, Any]) -> dict[str, Any]:
    response = await admin.call("POST", "/v1/customers", json=onboarding(msisdn, payment=payment))
    assert response.status_code == 201, response.text
    customer: dict[str, Any] = response.json()
    return customer


async def mandates(admin: Admin, customer_id: int) -> list[tuple[str, str, str]]:
    answer = await admin.call("GET", f"/v1/customers/{customer_id}/mandates", "auditor")
    assert answer.status_code == 200, answer.text
    return [(m["reference"], m["status"], m["sequence"]) for m in answer.json()["items"]]


async def count(conn: asyncpg.Connection, table: str) -> int:
    n: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # test tables only
    return n


async def test_a_mandate_reference_belongs_to_one_customer(admin: Admin) -> None:
    ana = await onboard(admin, "38640600001", direct_debit("M-ANA"))
    assert await mandates(admin, ana["id"]) == [("M-ANA", "active", "FRST")]
    # another customer naming Ana's reference: 409, and nothing of the onboarding is written
    taken = await admin.call(
        "POST", "/v1/customers", json=onboarding("38640600002", payment=direct_debit("M-ANA"))
    )
    assert (taken.status_code, taken.headers["content-type"]) == (409, PROBLEM), taken.text
    assert "M-ANA" in taken.json()["detail"]
    assert (await admin.count("customers"), await admin.count("sepa_mandates")) == (1, 1)
    bo = await onboard(admin, "38640600003", direct_debit("M-BO"))
    # a new mandate for Ana: the old one is revoked, and never another customer's
    path = f"/v1/customers/{ana['id']}/payment"
    moved = await admin.call("PUT", path, json={"payment": direct_debit("M-ANA-2")})
    assert moved.status_code == 200, moved.text
    assert moved.json()["payment"]["mandate_id"] == "M-ANA-2"  # payment info as before
    assert await mandates(admin, ana["id"]) == [
        ("M-ANA", "revoked", "FRST"),
        ("M-ANA-2", "active", "FRST"),
    ]
    bo_path = f"/v1/customers/{bo['id']}/payment"
    refused = await admin.call("PUT", bo_path, json={"payment": direct_debit("M-ANA")})
    assert refused.status_code == 409, refused.text
    assert await mandates(admin, bo["id"]) == [("M-BO", "active", "FRST")]
    details = (await admin.call("GET", f"/v1/customers/{bo['id']}")).json()
    assert details["payment"]["mandate_id"] == "M-BO"  # the refused change wrote nothing
    # Ana's own revoked mandate may be named again; another method revokes it
    back = await admin.call("PUT", path, json={"payment": direct_debit("M-ANA")})
    assert back.status_code == 200, back.text
    assert await mandates(admin, ana["id"]) == [
        ("M-ANA", "active", "FRST"),
        ("M-ANA-2", "revoked", "FRST"),
    ]
    invoice = await admin.call("PUT", path, json={"payment": {"method": "invoice"}})
    assert invoice.status_code == 200, invoice.text
    assert {status for _, status, _ in await mandates(admin, ana["id"])} == {"revoked"}
    log = (await admin.call("GET", "/v1/audit-log", params={"object_type": "customer"})).json()
    assert [e["action"] for e in log["items"]].count("customer.payment") == 3


@pytest.mark.parametrize(
    ("payment", "field"),
    [
        (direct_debit("M-X", bic="DEUTDEFFXXX"), "body.payment.direct_debit.bic"),
        (direct_debit("M-X", "FR1420041010050500013M02606", "BNPAFRPP"),
         "body.payment.direct_debit.bic"),
    ],
)  # fmt: skip
async def test_a_bic_of_another_bank_is_refused_and_nothing_is_written(
    admin: Admin, payment: dict[str, Any], field: str
) -> None:
    response = await admin.call(
        "POST", "/v1/customers", json=onboarding("38640600010", payment=payment)
    )
    assert (response.status_code, response.headers["content-type"]) == (422, PROBLEM)
    assert response.json()["field"].startswith(field), response.json()
    assert (await admin.count("customers"), await admin.count("sepa_mandates")) == (0, 0)
    ana = await onboard(admin, "38640600011", direct_debit("M-OK"))
    path = f"/v1/customers/{ana['id']}/payment"
    changed = await admin.call("PUT", path, json={"payment": payment})
    assert changed.status_code == 422
    assert await mandates(admin, ana["id"]) == [("M-OK", "active", "FRST")]


async def test_a_bic_is_taken_as_given_where_the_registry_does_not_know_the_bank(
    admin: Admin,
) -> None:
    # Slovenian banks are not in schwifty's registry: any valid BIC is accepted
    payment = direct_debit("M-SI", "SI56191000000123438", "ABNANL2A")
    ana = await onboard(admin, "38640600020", payment)
    assert await mandates(admin, ana["id"]) == [("M-SI", "active", "FRST")]


# -- collections -----------------------------------------------------------------------------


class Invoices:
    """Issued invoices made directly in the tables (as a billing run leaves them)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def make(
        self,
        customer: dict[str, Any],
        total: str,
        due: date = date(2026, 11, 20),
        *,
        kind: str = "invoice",
        issued: bool = True,
        currency: str = "EUR",
        paid: str = "0",
    ) -> int:
        conn = self.conn
        await conn.execute("INSERT INTO invoice_series (name) VALUES ('T') ON CONFLICT DO NOTHING")
        seq = await conn.fetchval("SELECT count(*) + 1 FROM invoices WHERE series = 'T'")
        profile = await conn.fetchval(
            "SELECT id FROM billing_profiles WHERE customer_id = $1", customer["id"]
        )
        bill = await conn.fetchval(
            "INSERT INTO bills (billing_profile_id, customer_id, status, kind, currency,"
            " period_start, period_end, total, amount_due)"
            " VALUES ($1, $2, 'billing', 'now', $3, now() - interval '1 month', now(), $4, $4)"
            " RETURNING id",
            profile, customer["id"], currency, Decimal(total),
        )  # fmt: skip
        corrects = None
        if kind == "credit_note":
            corrects = await conn.fetchval(
                "SELECT id FROM invoices WHERE customer_id = $1 ORDER BY id LIMIT 1",
                customer["id"],
            )
        number = f"T-{seq}" if issued else None
        invoice_id: int = await conn.fetchval(
            "INSERT INTO invoices (kind, bill_id, billing_profile_id, customer_id, corrects_id,"
            " series, seq, number, status, error, currency, issue_date, due_date, total, paid,"
            " issued_at)"
            " VALUES ($1, $2, $3, $4, $5, 'T', $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            " RETURNING id",
            kind, bill, profile, customer["id"], corrects, seq if issued else None, number,
            "billing" if issued else "failed", None if issued else "no seller", currency,
            date(2026, 11, 1), due, Decimal(total), Decimal(paid),
            date(2026, 11, 1) if issued else None,
        )  # fmt: skip
        return invoice_id


async def collect(admin: Admin, request_id: str, on: date = COLLECT_ON) -> Any:
    return await admin.call(
        "POST",
        "/v1/sepa/collections",
        json={"collection_date": on.isoformat(), "request_id": request_id},
    )


async def customers_with_invoices(admin: Admin) -> tuple[dict[str, int], list[int]]:
    """Ana and Bo pay by direct debit, Cy by invoice; returns the due invoices by name and
    the invoices no collection may take."""
    ana = await onboard(admin, "38640600101", direct_debit("M-ANA"))
    bo = await onboard(admin, "38640600102", direct_debit("M-BO", "SI56191000000123438", None))
    cy = await onboard(admin, "38640600103", {"method": "invoice"})
    async with admin.pool.acquire() as conn:
        make = Invoices(conn).make
        due = {
            "ana-1": await make(ana, "12.30"),
            "ana-2": await make(ana, "7.00", paid="2.00"),  # partly paid: 5.00 is due
            "bo-1": await make(bo, "20.00", COLLECT_ON),
        }
        never = [
            await make(ana, "3.00", kind="credit_note"),
            await make(ana, "4.00", issued=False),  # failed: not issued
            await make(ana, "9.00", paid="9.00"),  # nothing due
            await make(bo, "8.00", date(2026, 12, 2)),  # due after the collection date
            await make(bo, "6.00", currency="USD"),
            await make(cy, "11.00"),  # no mandate
        ]
    return due, never


async def test_a_collection_takes_each_due_invoice_once_in_a_valid_file(admin: Admin) -> None:
    with_creditor(admin)
    due, _ = await customers_with_invoices(admin)
    made = await collect(admin, "run-1")
    assert made.status_code == 201, made.text
    collection = made.json()
    items = {i["invoice_id"]: i for i in collection["items"]}
    assert sorted(items) == sorted(due.values())
    assert items[due["ana-2"]]["amount"] == "5.00"
    assert {i["sequence_type"] for i in items.values()} == {"FRST"}
    assert {i["status"] for i in items.values()} == {"pending"}
    assert (collection["item_count"], Decimal(collection["total"])) == (3, Decimal("37.30"))
    assert collection["message_id"] == f"TARIF-SDD-{collection['id']}"
    assert collection["scheme"] == "pain.008.001.08"
    file = await admin.call("GET", f"/v1/sepa/collections/{collection['id']}/file", "auditor")
    assert file.status_code == 200
    assert file.headers["content-type"].startswith("application/xml")
    validate(file.content)  # the XSD of pain.008.001.08
    for item in items.values():
        assert f"<EndToEndId>{item['end_to_end_id']}</EndToEndId>".encode() in file.content
    assert b"<CtrlSum>37.30</CtrlSum>" in file.content
    # the same request again: the same collection; a new one finds nothing left to take
    again = await collect(admin, "run-1")
    assert (again.status_code, again.json()["id"]) == (200, collection["id"])
    second = await collect(admin, "run-2")
    assert (second.status_code, second.headers["content-type"]) == (409, PROBLEM)
    async with admin.pool.acquire() as conn:
        assert await count(conn, "sepa_collections") == 1
        assert await count(conn, "sepa_collection_items") == 3
    listed = (await admin.call("GET", "/v1/sepa/collections", "auditor")).json()
    assert [c["id"] for c in listed["items"]] == [collection["id"]]
    log = await admin.call("GET", "/v1/audit-log", params={"object_type": "sepa_collection"})
    assert [e["action"] for e in log.json()["items"]] == ["sepa.collection.create"]


async def test_collections_need_the_creditor_and_the_admin_role(admin: Admin) -> None:
    unset = await collect(admin, "run-x")
    assert unset.status_code == 409
    assert "TARIF_SEPA_CREDITOR_ID" in unset.json()["detail"]
    with_creditor(admin)
    body = {"collection_date": "2026-12-01", "request_id": "r"}
    for role in ("operator", "auditor"):
        refused = await admin.call("POST", "/v1/sepa/collections", role, json=body)
        assert refused.status_code == 403
    assert (await admin.call("GET", "/v1/sepa/collections/99")).status_code == 404
    assert (await admin.call("GET", "/v1/sepa/collections/99/file")).status_code == 404


async def test_two_runs_at_once_never_take_the_same_invoice(admin: Admin) -> None:
    with_creditor(admin)
    due, _ = await customers_with_invoices(admin)
    creditor = creditor_of(admin.app.state.settings)

    async def run(request_id: str) -> list[int]:
        async with admin.pool.acquire() as conn:
            try:
                made = await collections.collect(conn, creditor, request_id, COLLECT_ON, "test")
            except NothingDue:
                return []
            rows = await conn.fetch(
                "SELECT invoice_id FROM sepa_collection_items WHERE collection_id = $1",
                made.collection_id,
            )
            return [r["invoice_id"] for r in rows]

    taken = await asyncio.gather(*(run(f"parallel-{n}") for n in range(4)))
    every = [invoice for run_taken in taken for invoice in run_taken]
    assert sorted(every) == sorted(due.values())  # each once, none left out


# -- the bank's results ----------------------------------------------------------------------


async def items_of(admin: Admin, collection_id: int) -> dict[str, dict[str, Any]]:
    detail = await admin.call("GET", f"/v1/sepa/collections/{collection_id}", "auditor")
    return {i["end_to_end_id"]: i for i in detail.json()["items"]}


async def upload(admin: Admin, collection_id: int, data: bytes) -> Any:
    return await admin.client.post(
        f"/v1/sepa/collections/{collection_id}/results",
        content=data,
        headers={**admin.as_("admin"), "content-type": "application/xml"},
    )


async def test_results_pay_accepted_debits_once_and_leave_rejected_ones_due(
    admin: Admin,
) -> None:
    with_creditor(admin)
    due, _ = await customers_with_invoices(admin)
    collection = (await collect(admin, "run-1")).json()
    by_invoice = {i["invoice_id"]: i["end_to_end_id"] for i in collection["items"]}
    ana_1, ana_2, bo_1 = (by_invoice[due[k]] for k in ("ana-1", "ana-2", "bo-1"))
    report = pain002(
        collection["message_id"],
        [(ana_1, "ACSC", None), (ana_2, "ACSC", None), (bo_1, "RJCT", "AM04")],
    )
    first = await upload(admin, collection["id"], report)
    assert first.status_code == 200, first.text
    answers = {i["end_to_end_id"]: i for i in first.json()["items"]}
    assert {k: a["answer"] for k, a in answers.items()} == {
        ana_1: "paid",
        ana_2: "paid",
        bo_1: "rejected",
    }
    assert answers[bo_1]["reason"] == "AM04"
    assert first.json()["counts"] == {"paid": 2, "rejected": 1}
    async with admin.pool.acquire() as conn:
        payments = await conn.fetch(
            "SELECT request_id, method, amount, invoice_id FROM payments ORDER BY invoice_id"
        )
        assert [(p["method"], p["amount"], p["invoice_id"]) for p in payments] == [
            ("direct_debit", Decimal("12.30"), due["ana-1"]),
            ("direct_debit", Decimal("5.00"), due["ana-2"]),
        ]
        assert {p["request_id"] for p in payments} == {
            f"sepa:{answers[ana_1]['item_id']}",
            f"sepa:{answers[ana_2]['item_id']}",
        }
        invoices = await conn.fetch(
            "SELECT id, status, amount_due FROM invoices WHERE id = ANY($1::bigint[])",
            list(due.values()),
        )
        state = {r["id"]: (r["status"], r["amount_due"]) for r in invoices}
        assert state[due["ana-1"]] == ("closed", Decimal("0"))
        assert state[due["ana-2"]] == ("closed", Decimal("0"))
        assert state[due["bo-1"]] == ("billing", Decimal("20.00"))  # stays due
    # the same file again: nothing new
    second = await upload(admin, collection["id"], report)
    assert {i["answer"] for i in second.json()["items"]} == {"already_paid", "already_rejected"}
    async with admin.pool.acquire() as conn:
        assert await count(conn, "payments") == 2
    items = await items_of(admin, collection["id"])
    assert (items[bo_1]["status"], items[bo_1]["reason_code"]) == ("rejected", "AM04")
    assert items[ana_1]["payment_id"] == answers[ana_1]["payment_id"]
    detail = (await admin.call("GET", f"/v1/sepa/collections/{collection['id']}")).json()
    assert detail["status"] == "closed"
    # Ana's mandate goes on with RCUR; Bo's rejected FRST stays FRST
    customers = {c["id"] for c in await _customers(admin)}
    sequences = {ref: seq for cid in customers for ref, _, seq in await mandates(admin, cid)}
    assert sequences == {"M-ANA": "RCUR", "M-BO": "FRST"}
    # the next collection takes Bo's invoice again (FRST) and a new one of Ana's (RCUR)
    async with admin.pool.acquire() as conn:
        ana = {"id": await conn.fetchval("SELECT customer_id FROM invoices WHERE id = $1",
                                         due["ana-1"])}  # fmt: skip
        newer = await Invoices(conn).make(ana, "3.10", date(2026, 11, 25))
    later = (await collect(admin, "run-2")).json()
    again = {i["invoice_id"]: i["sequence_type"] for i in later["items"]}
    assert again == {due["bo-1"]: "FRST", newer: "RCUR"}


async def _customers(admin: Admin) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await admin.call("GET", "/v1/customers")).json()["items"]
    return listed


async def test_a_debit_notification_is_read_like_a_status_report(admin: Admin) -> None:
    with_creditor(admin)
    due, _ = await customers_with_invoices(admin)
    collection = (await collect(admin, "run-1")).json()
    by_invoice = {i["invoice_id"]: i["end_to_end_id"] for i in collection["items"]}
    notification = camt054([
        (by_invoice[due["ana-1"]], Decimal("12.30"), "CRDT", None),
        (by_invoice[due["bo-1"]], Decimal("20.00"), "DBIT", "MD01"),
        ("SDD999-1", Decimal("1.00"), "CRDT", None),
    ])  # fmt: skip
    for _ in range(2):  # twice: paid once
        answer = await upload(admin, collection["id"], notification)
        assert answer.status_code == 200, answer.text
    answers = [(i["answer"], i["reason"]) for i in answer.json()["items"]]
    assert answers == [("already_paid", None), ("already_rejected", "MD01"), ("unknown", None)]
    async with admin.pool.acquire() as conn:
        assert await count(conn, "payments") == 1
    items = await items_of(admin, collection["id"])
    assert items[by_invoice[due["ana-2"]]]["status"] == "pending"  # not named yet
    detail = (await admin.call("GET", f"/v1/sepa/collections/{collection['id']}")).json()
    assert detail["status"] == "open"


async def test_a_rejected_file_rejects_every_debit_and_a_later_result_does_not_undo_it(
    admin: Admin,
) -> None:
    with_creditor(admin)
    await customers_with_invoices(admin)
    collection = (await collect(admin, "run-1")).json()
    rejected = await upload(
        admin, collection["id"],
        pain002(collection["message_id"], group_status="RJCT", group_reason="FF01"),
    )  # fmt: skip
    assert rejected.json()["counts"] == {"rejected": 3}
    assert {i["reason"] for i in rejected.json()["items"]} == {"FF01"}
    one = collection["items"][0]["end_to_end_id"]
    contradicted = await upload(
        admin, collection["id"], pain002(collection["message_id"], [(one, "ACSC", None)])
    )
    assert [i["answer"] for i in contradicted.json()["items"]] == ["contradicted"]
    async with admin.pool.acquire() as conn:
        assert await count(conn, "payments") == 0


async def test_a_file_that_is_not_a_report_is_refused(admin: Admin) -> None:
    with_creditor(admin)
    await customers_with_invoices(admin)
    collection = (await collect(admin, "run-1")).json()
    for data in (b"<x/>", b"not xml", b""):
        answer = await upload(admin, collection["id"], data)
        assert (answer.status_code, answer.headers["content-type"]) == (422, PROBLEM)
    assert (await upload(admin, 999, pain002("x", []))).status_code == 404


async def test_a_billed_invoice_is_collected_paid_and_the_books_still_reconcile(
    admin: Admin,
) -> None:
    """The whole path: a billing run issues the invoice, a collection takes it, the bank's
    report pays it through the payments function; the billing reconciliation stays clean."""
    with_creditor(admin)
    customer = await postpaid_customer(admin, "38640600201", plan="basic")
    answer = await admin.call(
        "PUT", f"/v1/customers/{customer['id']}/payment", json={"payment": direct_debit("M-E2E")}
    )
    assert answer.status_code == 200, answer.text
    await store_usage(
        admin.pool, customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, tzinfo=UTC), "10.00"),
    )  # fmt: skip
    (invoice,) = (await run_billing(admin.pool, context(NOV_END), FACTS)).invoices
    due_by = date(2026, 12, 31)  # the invoice's due date is within payment terms of its issue
    collection = (await collect(admin, "e2e", due_by)).json()
    ((item_e2e, invoice_id),) = [(i["end_to_end_id"], i["invoice_id"]) for i in collection["items"]]
    assert invoice_id == invoice.invoice_id
    paid = await upload(admin, collection["id"], camt054([(item_e2e, invoice.total, "CRDT", None)]))
    assert [i["answer"] for i in paid.json()["items"]] == ["paid"]
    async with admin.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT status, amount_due FROM invoices WHERE id = $1", invoice_id
        )
        assert (row["status"], row["amount_due"]) == ("closed", Decimal(0))
        period = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        report = await reconcile_billing(conn, *period)
    assert report.balanced, report.differences

    # the bank returns the paid debit (MD06: refund request by the debtor): the payment is
    # reversed, the invoice and its bill are due and open again, and the books still reconcile
    returned = camt054([(item_e2e, invoice.total, "DBIT", "MD06")])
    for expected in ("returned", "already_returned"):  # twice: reversed once
        answer = await upload(admin, collection["id"], returned)
        assert answer.status_code == 200, answer.text
        assert [(i["answer"], i["reason"]) for i in answer.json()["items"]] == [(expected, "MD06")]
    async with admin.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT i.status, i.amount_due, i.paid, b.status AS bill, b.amount_due AS bill_due"
            " FROM invoices i JOIN bills b ON b.id = i.bill_id WHERE i.id = $1",
            invoice_id,
        )
        assert (row["status"], row["amount_due"], row["paid"]) == ("billing", invoice.total, 0)
        assert (row["bill"], row["bill_due"]) == ("billing", invoice.total)
        payments = await conn.fetch("SELECT kind, amount, reverses_id FROM payments ORDER BY id")
        assert [(p["kind"], p["amount"]) for p in payments] == [
            ("charge", invoice.total),
            ("reversal", invoice.total),
        ]
        pending = await conn.fetchval(
            "SELECT pending_total FROM billing_profiles p JOIN invoices i"
            " ON i.billing_profile_id = p.id WHERE i.id = $1",
            invoice_id,
        )
        assert pending == invoice.total
        report = await reconcile_billing(conn, *period)
    assert report.balanced, report.differences
    items = await items_of(admin, collection["id"])
    assert (items[item_e2e]["status"], items[item_e2e]["reason_code"]) == ("returned", "MD06")
    # an acceptance after the return is not applied
    late = await upload(admin, collection["id"], camt054([(item_e2e, invoice.total, "CRDT", None)]))
    assert [i["answer"] for i in late.json()["items"]] == ["contradicted"]
    # the next collection takes the invoice again
    again = (await collect(admin, "e2e-2", due_by)).json()
    assert [i["invoice_id"] for i in again["items"]] == [invoice_id]
