"""What `tarif trace` prints when parts of the path are missing: checked without any server."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from tarif_cli.trace import plain, trace_lines

AT = datetime(2026, 11, 18, 10, 59, tzinfo=UTC)


def document(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "t1", "account_id": "C1", "answer": None, "record": None, "refunds": [],
        "bill": None, "billed": False, "bill_items": [], "invoice_lines": [], "notes": [],
    }  # fmt: skip
    return base | changes


def test_an_answer_whose_record_is_not_stored_yet() -> None:
    answer = {"result": "SUCCESS", "cost": "0.05", "currency": "EUR", "refunded": "0.00",
              "expires_in": 60}  # fmt: skip
    lines = trace_lines(document(answer=answer, notes=["no rated record in Postgres yet"]))
    assert lines == [
        "event   t1 (account C1)",
        "answer  SUCCESS, cost 0.05 EUR, refunded 0.00 EUR, kept 60 s more",
        "record  not in Postgres yet",
        "notes:",
        "  - no rated record in Postgres yet",
    ]


def test_a_record_whose_answer_expired_waiting_for_its_bill() -> None:
    record = {"request_id": "e:t1", "kind": "event", "service": "sms", "rate": "", "units": 1,
              "cost": "0.05", "currency": "EUR", "x_request_id": None, "charged_at": AT,
              "ingested_at": AT}  # fmt: skip
    bill = {"id": 4, "kind": "cycle", "status": "active", "period_start": AT, "period_end": AT,
            "invoice_number": None, "invoice_status": None, "currency": "EUR"}  # fmt: skip
    refund = {"request_id": "r:r1", "cost": "-0.05", "currency": "EUR", "x_request_id": "rq-r"}
    lines = trace_lines(document(record=record, bill=bill, refunds=[refund]))
    assert lines[1] == "answer      no longer kept by the engine"
    assert lines[2] == "record      e:t1 (event) sms (-), units 1, cost 0.05 EUR"
    assert lines[3] == "request id  -"
    assert "refund      r:r1 -0.05 EUR (request id rq-r)" in lines
    assert lines[-1].startswith("bill        4 (cycle, active, not billed yet)")
    assert lines[-1].endswith("invoice -")


def test_dates_become_text_for_json() -> None:
    assert plain({"a": [{"d": date(2026, 12, 1), "t": AT}]}) == {
        "a": [{"d": "2026-12-01", "t": AT}]
    }
