"""The criteria of financial reporting and export: periods from "process now", and bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from tarif_jobs.kinds import criteria_model
from tarif_jobs.report_criteria import (
    ExportCriteria,
    FinancialReportCriteria,
    Period,
    day_start,
)

NOW = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)  # a Sunday; still 28 February in New York


@pytest.mark.parametrize(
    ("period", "zone", "window"),
    [
        ({"length": "day"}, "UTC", (date(2026, 2, 28), date(2026, 3, 1))),
        ({"length": "week"}, "UTC", (date(2026, 2, 16), date(2026, 2, 23))),
        ({"length": "month"}, "UTC", (date(2026, 2, 1), date(2026, 3, 1))),
        ({"length": "month"}, "America/New_York", (date(2026, 1, 1), date(2026, 2, 1))),
        ({"length": "year"}, "UTC", (date(2025, 1, 1), date(2026, 1, 1))),
        ({"days": 7}, "UTC", (date(2026, 2, 22), date(2026, 3, 1))),
        ({"year": 2024, "month": 2}, "UTC", (date(2024, 2, 1), date(2024, 3, 1))),
        ({"year": 2024, "month": 12}, "UTC", (date(2024, 12, 1), date(2025, 1, 1))),
        ({"year": 2024}, "UTC", (date(2024, 1, 1), date(2025, 1, 1))),
    ],
)
def test_a_period_is_whole_days_before_process_now(
    period: dict[str, Any], zone: str, window: tuple[date, date]
) -> None:
    assert Period.model_validate(period).window(NOW, zone) == window


def test_a_day_starts_at_local_midnight() -> None:
    assert day_start(date(2026, 3, 29), "Europe/Ljubljana") == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert day_start(date(2026, 3, 30), "Europe/Ljubljana") == datetime(
        2026, 3, 29, 22, tzinfo=UTC
    )  # after the change to summer time


@pytest.mark.parametrize(
    "bad",
    [
        {"report": "revenue_recognition", "period": {"days": 7}},
        {"report": "revenue_recognition", "period": {"length": "year"}},
        {"period": {"length": "month", "days": 3}},
        {"period": {"month": 3}},
        {"period": {"days": 0}},
        {"time_zone": "Mars/Olympus"},
        {"account_types": ["income"]},
        {"ledgers": ["bad name"]},
        {"unknown": 1},
    ],
)
def test_bad_report_criteria_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FinancialReportCriteria.model_validate(bad)


WEBHOOK = {"type": "webhook", "url": "https://example.com/hook"}
SFTP = {"type": "sftp", "host": "files.example.com", "user": "tarif", "key_ref": "finance"}


@pytest.mark.parametrize(
    "bad",
    [
        {"data": "customers", "destinations": [WEBHOOK]},
        {"data": "invoices", "destinations": []},
        {"data": "invoices", "format": "xml", "destinations": [WEBHOOK]},
        {"data": "invoices", "period_field": "event_time", "destinations": [WEBHOOK]},
        {"data": "financial_reports", "customer_types": ["business"], "destinations": [WEBHOOK]},
        {"data": "payments", "destinations": [{**SFTP, "password": "hunter2"}]},  # no secrets
        {"data": "payments", "destinations": [{**SFTP, "password_ref": "x"}]},  # two credentials
        {"data": "payments", "destinations": [{k: v for k, v in SFTP.items() if k != "key_ref"}]},
        {"data": "payments", "destinations": [{**WEBHOOK, "url": "ftp://example.com/x"}]},
        {"data": "payments", "destinations": [{"type": "email", "to": ["not an address"]}]},
        {"data": "payments", "destinations": [{"type": "fax", "to": "+386"}]},
        {"data": "usage_events", "attributes": {"tier": "gold"}, "unknown": 1,
         "destinations": [WEBHOOK]},
    ],
)  # fmt: skip
def test_bad_export_criteria_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExportCriteria.model_validate(bad)


def test_export_criteria_name_their_file_and_field() -> None:
    criteria = criteria_model("export").model_validate(
        {"data": "usage_events", "format": "json", "destinations": [WEBHOOK, SFTP],
         "customer_types": ["business"]}
    )  # fmt: skip
    assert isinstance(criteria, ExportCriteria)
    assert criteria.date_field == "event_time"
    assert criteria.file_name(date(2026, 2, 1), date(2026, 3, 1)) == (
        "usage_events_2026-02-01_2026-02-28.json"
    )
    assert criteria.customer_criteria().where("c", first=3) == (
        "c.customer_type = ANY($3::text[])",
        [["business"]],
    )
    assert criteria_model("financial_reporting") is FinancialReportCriteria
