"""An issued invoice (or credit note) read back as the `Document` every renderer takes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tarif_billing.document import Document, DocumentLine, Party
from tarif_billing.money import TaxSubtotal
from tarif_common.errors import Conflict, NotFound
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

Q = queries.load("invoices")


def _party(value: Any) -> Party:
    data = json.loads(value) if isinstance(value, str) else value
    return Party(**data)


async def load_document(conn: TarifConnection, invoice_id: int) -> Document:
    row = await conn.fetchrow(Q.invoice_by_id, invoice_id)
    if row is None:
        raise NotFound(f"invoice {invoice_id} not found")
    if row["status"] == "failed":
        raise Conflict(f"invoice {invoice_id} failed and has no document: {row['error']}")
    lines = tuple(
        DocumentLine(
            number=r["number"],
            description=r["description"],
            quantity=r["quantity"],
            unit_price=r["unit_price"],
            net=r["net"],
            tax_category=r["tax_category"],
            tax_rate=r["tax_rate"],
            kind=r["kind"],
            period_start=r["period_start"],
            period_end=r["period_end"],
        )
        for r in await conn.fetch(Q.invoice_lines_of, invoice_id)
    )
    tax_rows = await conn.fetch(Q.invoice_taxes_of, invoice_id)
    taxes = tuple(TaxSubtotal(r["category"], r["rate"], r["taxable"], r["tax"]) for r in tax_rows)
    reasons = tuple(
        (r["category"], r["exemption_reason"]) for r in tax_rows if r["exemption_reason"]
    )
    paid: Decimal = row["paid"] + row["credited"] + row["transferred"]
    return Document(
        kind=row["kind"],
        number=row["number"],
        issue_date=row["issue_date"],
        due_date=row["due_date"],
        currency=row["currency"],
        seller=_party(row["seller"]),
        buyer=_party(row["buyer"]),
        lines=lines,
        taxes=taxes,
        net_total=row["net_total"],
        tax_total=row["tax_total"],
        total=row["total"],
        credit_applied=row["credit_applied"],
        paid=paid,
        amount_due=row["amount_due"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        customer_account=str(row["customer_id"]),
        preceding_number=row["corrects_number"] or "",
        notes=tuple(row["notes"]),
        exemption_reasons=reasons,
    )
