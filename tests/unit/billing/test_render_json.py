"""The JSON form: one shape for invoice and credit note, numbers as strings, totals adding up."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from tarif_billing.render.json_form import SCHEMA, document_dict, render_json
from tests.unit.billing.render_documents import credit_note, exempt, invoice, multi_rate


def test_amounts_are_strings_and_dates_iso() -> None:
    form = json.loads(render_json(invoice()))
    assert form["schema"] == SCHEMA
    assert form["issue_date"] == "2026-11-01"
    assert form["period_end"] == "2026-10-31"
    assert form["totals"] == {
        "net": "28.89",
        "tax": "5.78",
        "total": "34.67",
        "credit_applied": "3.00",
        "paid": "10.00",
        "amount_due": "21.67",
    }
    usage = form["lines"][1]
    assert (usage["quantity"], usage["unit_price"], usage["net"]) == ("312", "0.0125", "3.90")
    assert usage["tax_rate"] == "20"
    assert form["lines"][0]["period_start"] is None


def test_invoice_and_credit_note_share_one_shape() -> None:
    def keys(value: object) -> object:
        if isinstance(value, dict):
            return {k: keys(v) for k, v in value.items()}
        if isinstance(value, list):
            return [keys(value[0])] if value else list
        if isinstance(value, str):
            return str
        return value if value is None else type(value)

    with_notes = dataclasses.replace(credit_note(), notes=("Refund of a roaming overcharge",))
    assert keys(document_dict(invoice())) == keys(document_dict(with_notes))
    form = document_dict(credit_note())
    assert (form["kind"], form["title"]) == ("credit_note", "Credit note")
    assert form["preceding_number"] == "INV-2026-000042"


def test_totals_add_up() -> None:
    for document in (invoice(), credit_note(), multi_rate(), exempt()):
        form = document_dict(document)
        totals = {k: Decimal(v) for k, v in form["totals"].items()}
        assert totals["net"] == sum(Decimal(x["net"]) for x in form["lines"])
        assert totals["tax"] == sum(Decimal(x["tax"]) for x in form["taxes"])
        assert totals["total"] == totals["net"] + totals["tax"]
        assert totals["amount_due"] == (totals["total"] - totals["credit_applied"] - totals["paid"])


def test_rates_lose_trailing_zeros_and_exempt_lines_name_their_reason() -> None:
    taxes = {(t["category"], t["rate"]): t for t in document_dict(multi_rate())["taxes"]}
    assert set(taxes) == {("S", "2.1"), ("S", "5.5"), ("S", "20"), ("Z", "0")}
    reasons = {t["category"]: t["exemption_reason"] for t in document_dict(exempt())["taxes"]}
    assert reasons == {"E": "Article 261 C CGI: exempt", "S": ""}
    # a reason given for a taxed category is not written (BR-S-10)
    with_s = dataclasses.replace(exempt(), exemption_reasons=(("S", "Taxed"), ("E", "Exempt")))
    reasons = {t["category"]: t["exemption_reason"] for t in document_dict(with_s)["taxes"]}
    assert reasons == {"E": "Exempt", "S": ""}


def test_the_same_document_gives_the_same_bytes() -> None:
    first = render_json(invoice())
    assert first == render_json(invoice())
    assert first.endswith(b"\n")
    assert "Émile".encode() in first  # UTF-8, not \u escapes
