"""The document as stable JSON: one shape for invoices and credit notes.

Shape (`"schema": "tarif.document/1"`; docs/invoices.md, "Rendering", lists every key):
amounts, quantities and rates are strings (amounts exactly as rounded, e.g. "12.30"; rates and
quantities without trailing zeros), dates are ISO `YYYY-MM-DD` or null, absent text is "".
Keys are sorted so the same document always gives the same bytes. The HTML template receives this
same dictionary, so an operator's template relies on the documented shape only.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from tarif_billing.document import Document, DocumentLine, Party
from tarif_billing.render.text import CATEGORY_NAMES, TITLES, exemption_reason, plain, trimmed

SCHEMA = "tarif.document/1"


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _party(party: Party) -> dict[str, Any]:
    return {
        "name": party.name,
        "address": party.address,
        "city": party.city,
        "postcode": party.postcode,
        "country": party.country,
        "vat_id": party.vat_id,
        "company_id": party.company_id,
        "email": party.email,
    }


def _line(line: DocumentLine) -> dict[str, Any]:
    return {
        "number": line.number,
        "description": line.description,
        "kind": line.kind,
        "quantity": trimmed(line.quantity),
        "unit_price": plain(line.unit_price),
        "net": plain(line.net),
        "tax_category": line.tax_category,
        "tax_rate": trimmed(line.tax_rate),
        "period_start": _day(line.period_start),
        "period_end": _day(line.period_end),
    }


def document_dict(document: Document) -> dict[str, Any]:
    """The JSON-ready form of `document` (only str, int, None, lists and dicts)."""
    return {
        "schema": SCHEMA,
        "kind": document.kind,
        "title": TITLES[document.kind],
        "number": document.number,
        "issue_date": _day(document.issue_date),
        "due_date": _day(document.due_date),
        "period_start": _day(document.period_start),
        "period_end": _day(document.period_end),
        "currency": document.currency,
        "customer_account": document.customer_account,
        "preceding_number": document.preceding_number,
        "payment_terms": document.payment_terms,
        "seller_iban": document.seller_iban,
        "mandate_reference": document.mandate_reference,
        "seller": _party(document.seller),
        "buyer": _party(document.buyer),
        "lines": [_line(line) for line in document.lines],
        "taxes": [
            {
                "category": tax.category,
                "category_name": CATEGORY_NAMES.get(tax.category, tax.category),
                "rate": trimmed(tax.rate),
                "taxable": plain(tax.taxable),
                "tax": plain(tax.tax),
                "exemption_reason": exemption_reason(document, tax.category),
            }
            for tax in document.taxes
        ],
        "totals": {
            "net": plain(document.net_total),
            "tax": plain(document.tax_total),
            "total": plain(document.total),
            "credit_applied": plain(document.credit_applied),
            "paid": plain(document.paid),
            "amount_due": plain(document.amount_due),
        },
        "notes": list(document.notes),
    }


def render_json(document: Document) -> bytes:
    """UTF-8 JSON of `document_dict`, keys sorted, two-space indent, a final newline."""
    text = json.dumps(document_dict(document), ensure_ascii=False, sort_keys=True, indent=2)
    return (text + "\n").encode()
