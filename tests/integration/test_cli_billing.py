"""`tarif billing run`, `tarif bills`, `tarif invoices`, `tarif payments` against real
services: the same functions as the admin API, money shown with its currency."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import SELLER, postpaid_customer, profile_of, store_usage
from tests.integration.test_cli_output import Run, tarif  # noqa: F401 (the fixture)


async def test_run_list_show_document_and_pay(
    admin: Admin,
    tarif: Run,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("name", "address", "city", "postcode", "country", "vat_id"):
        monkeypatch.setenv(f"TARIF_SELLER_{name.upper()}", getattr(SELLER, name))
    monkeypatch.setenv("TARIF_DEFAULT_TAX", "VAT22")
    customer = await postpaid_customer(admin, "38640810001", plan="basic")
    profile = await profile_of(admin.pool, customer["id"])
    await store_usage(
        admin.pool,
        customer["account_id"],
        ("e:1", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
    )

    monkeypatch.setenv("TARIF_ENVIRONMENT", "production")
    code, _, err = await tarif("billing", "run", "--at", "2026-11-30T23:00:00+00:00")
    assert code == 2
    assert "refused in production" in err
    monkeypatch.setenv("TARIF_ENVIRONMENT", "test")
    code, out, _ = await tarif("billing", "run", "--at", "2026-11-30T23:00:00+00:00", "--json")

    assert code == 0, out
    report = json.loads(out)
    assert (report["billed"], report["failed"]) == (1, 0)
    (issued,) = report["invoices"]
    assert (issued["number"], issued["total"]) == ("INV-000001", "12.20")
    code, out, _ = await tarif("bills", "list", "--profile", str(profile))
    assert code == 0
    assert "INV-000001" in out
    assert "12.20 EUR" in out
    assert "10.00 EUR" in out
    code, out, _ = await tarif("invoices", "list", "--customer", str(customer["id"]), "--json")
    (listed,) = json.loads(out)["items"]
    assert (listed["number"], listed["amount_due"], listed["issue_date"]) == (
        "INV-000001",
        "12.20",
        "2026-12-01",
    )
    code, out, _ = await tarif("invoices", "show", str(issued["invoice_id"]))
    assert code == 0
    assert out.startswith("invoice INV-000001")
    assert "12.20 EUR" in out
    target = tmp_path / "invoice.json"
    code, _, _ = await tarif(
        "invoices", "document", str(issued["invoice_id"]), "--format", "json", "-o", str(target)
    )
    assert code == 0
    assert json.loads(target.read_text())["number"] == "INV-000001"
    pdf = tmp_path / "invoice.pdf"
    code, _, err = await tarif("invoices", "document", str(issued["invoice_id"]), "-o", str(pdf))
    assert code == 0, err
    assert pdf.read_bytes().startswith(b"%PDF")

    code, _, err = await tarif(
        "payments", "add", "--profile", str(profile), "--amount", "0", "--currency", "EUR",
        "--method", "cash",
    )  # fmt: skip
    assert code == 2
    assert "amount" in err
    assert await admin.count("payments") == 0
    code, out, _ = await tarif(
        "payments", "add", "--profile", str(profile), "--amount", "15.00", "--currency", "EUR",
        "--method", "cash", "--request-id", "cash-1",
    )  # fmt: skip
    assert code == 0, out
    assert "paid 12.20 EUR of invoice INV-000001" in out
    assert "2.80 EUR to credit balance" in out
