"""Answers about collections: reminder terms and levels, automations, their actions and runs,
reminders and their lines. Amounts are exact decimal text; dates ISO."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import Field

from admin_api.answers.base import Amount, Answer, free_form


class LevelTextAnswer(Answer):
    language: str
    subject: str
    beginning_text: str
    ending_text: str


class Level(Answer):
    level: int
    grace_period: str = Field(description="date formula added to the reference date")
    due_date_formula: str = Field(description="date formula giving a reminder's due date")
    fee_amount: Amount
    fee_currency: str | None
    fee_tax: str | None
    texts: list[LevelTextAnswer]


class Terms(Answer):
    code: str
    description: str
    max_reminders: int
    default_language: str
    levels: list[Level]
    created_at: datetime
    updated_at: datetime


class CadenceAnswer(Answer):
    kind: str = Field(description="`manual`, `weekly`, `monthly` or `custom`")
    formula: str | None
    starts_at: datetime | None
    time_zone: str


class Action(Answer):
    id: int
    position: int = Field(description="actions run in position order, from 1")
    kind: str = Field(description="`create`, `issue` or `send`")
    description: str
    options: dict[str, Any] = free_form("the kind's settings (docs/collections.md)")
    stop_on_error: bool


class Automation(Answer):
    id: int
    name: str
    description: str
    terms: list[str] = Field(description="the reminder terms it handles (empty: every term)")
    criteria: dict[str, Any] = free_form("customer criteria, as jobs take them")
    cadence: CadenceAnswer
    active: bool
    next_run_at: datetime | None
    last_run_at: datetime | None
    actions: list[Action]
    created_at: datetime
    updated_at: datetime


class Started(Answer):
    """The job run a Start queued: the batch's workers run it."""

    automation_id: int
    job_run_id: int
    status: str
    process_now: datetime


class RunAction(Answer):
    position: int
    action_id: int | None
    kind: str
    status: str = Field(description="`succeeded`, `failed` or `skipped` (an earlier one failed)")
    processed: int
    failed: int
    error: str | None
    finished_at: datetime


class Run(Answer):
    id: int
    automation_id: int
    job_run_id: int | None
    trigger: str = Field(description="`schedule`, `start` or `retry`")
    process_now: datetime
    status: str = Field(description="`running`, `succeeded` or `failed`")
    started_at: datetime
    finished_at: datetime | None
    actions: list[RunAction]


class ReminderLine(Answer):
    invoice_id: int
    kind: str = Field(description="`overdue` (moves the invoice's level) or `unpaid`")
    level: int | None
    number: str
    issue_date: date | None
    due_date: date
    total: Amount
    amount_due: Amount = Field(description="when the reminder was created")
    on_hold: bool


class Reminder(Answer):
    id: int
    billing_profile_id: int
    customer_id: int
    terms: str
    level: int
    status: str = Field(description="`draft`, `issued`, `sent` or `cancelled`")
    currency: str
    document_date: date
    posting_date: date
    due_date: date
    overdue_total: Amount
    fee_amount: Amount
    fee_invoice_id: int | None
    fee_invoice_number: str | None
    automation_id: int | None
    created_at: datetime
    issued_at: datetime | None
    sent_count: int
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    last_error: str | None
    lines: list[ReminderLine] | None = Field(default=None, description="one reminder only")


class ProfileTerms(Answer):
    billing_profile_id: int
    terms: str | None
    language: str | None


class Hold(Answer):
    invoice_id: int
    reason: str
    held_by: str
    held_at: datetime
