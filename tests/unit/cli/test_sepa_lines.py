"""`tarif sepa`: its arguments, and the lines it prints for a collection and for results."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tarif_cli.main import parser
from tarif_cli.sepa import collection_lines, results_lines


def test_the_commands_take_a_date_and_a_file() -> None:
    collect = parser().parse_args(["sepa", "collect", "--date", "2026-12-01", "--json"])
    assert (collect.action, collect.date, collect.request_id, collect.json) == (
        "collect", date(2026, 12, 1), None, True,
    )  # fmt: skip
    load = parser().parse_args(["sepa", "import", "report.xml", "--collection", "7"])
    assert (load.action, load.file, load.collection) == ("import", Path("report.xml"), 7)


def test_a_collection_prints_one_row_per_debit() -> None:
    document = {
        "id": 3, "status": "open", "message_id": "TARIF-SDD-3", "collection_date": "2026-12-01",
        "item_count": 1, "total": "12.30", "currency": "EUR",
        "items": [{"end_to_end_id": "SDD3-9", "invoice_number": "INV-000009",
                   "mandate_reference": "M-1", "sequence_type": "FRST", "amount": "12.30",
                   "status": "pending"}],
    }  # fmt: skip
    lines = collection_lines(document)
    assert lines[0] == ("collection 3 (open)  TARIF-SDD-3  on 2026-12-01: 1 debits, 12.30 EUR")
    assert any("SDD3-9" in line and "INV-000009" in line and "12.30 EUR" in line for line in lines)


def test_results_print_counts_and_answers() -> None:
    document = {
        "kind": "pain.002", "counts": {"paid": 1, "rejected": 1},
        "items": [
            {"end_to_end_id": "SDD3-9", "answer": "paid", "reason": None, "payment_id": 4},
            {"end_to_end_id": "SDD3-10", "answer": "rejected", "reason": "AM04",
             "payment_id": None},
        ],
    }  # fmt: skip
    lines = results_lines(document)
    assert lines[0] == "pain.002: 1 paid, 1 rejected"
    assert any("SDD3-10" in line and "AM04" in line for line in lines)
