"""Answers of the financial reports and notification deliveries endpoints."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from admin_api.answers.base import Amount, Answer


class FinancialReport(Answer):
    id: int
    kind: str = Field(description="journal or revenue_recognition")
    period_start: date
    period_end: date = Field(description="the day after the period's last (exclusive)")
    time_zone: str
    filters: dict[str, Any] = Field(
        description="ledgers, ledger_groups, revenue_types, account_types (empty: all)"
    )
    revision: int = Field(description="goes up each time a new run changed the figures")
    run_id: int | None
    computed_at: datetime
    created_at: datetime
    lines: int


class ReportLine(Answer):
    """One grouping of the report; the columns a grouping does not use are absent. Journal
    reports: debit, credit, net (= debit - credit), entries. Revenue recognition: deferred at the
    month's start, billed, recognized, deferred at its end."""

    position: int
    dimension: str = Field(
        description="account, ledger, ledger_group, revenue_type, account_type or total"
    )
    currency: str
    account: str | None = None
    ledger: str | None = None
    ledger_group: str | None = None
    revenue_type: str | None = None
    account_type: str | None = None
    debit: Amount | None = None
    credit: Amount | None = None
    net: Amount | None = None
    entries: int | None = None
    opening_deferred: Amount | None = None
    billed: Amount | None = None
    recognized: Amount | None = None
    closing_deferred: Amount | None = None


class FinancialReportWithLines(FinancialReport):
    items: list[ReportLine]


class NotificationDelivery(Answer):
    id: int
    notification_id: int | None
    selfcare_mail_id: int | None
    channel: str
    recipient: str
    status: str = Field(description="pending, sending, delivered, dead or skipped")
    attempts: int
    last_error: str
    next_attempt_at: datetime
    delivered_at: datetime | None
    type: str | None
    account_id: str | None


class Resent(Answer):
    resent: list[int] = Field(description="the deliveries put back to pending")
