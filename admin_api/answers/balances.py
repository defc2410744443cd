"""Answers about balances and usage: live balances, adjustments, rated usage, manual events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from admin_api.answers.base import Amount, Answer


class LiveBalance(Answer):
    """A balance as the engine has it now, in the resource's unit."""

    balance_group: str
    id: str
    resource: str
    unit: str
    amount: Amount
    reserved: Amount = Field(description="held by open sessions")
    available: Amount
    valid_from: datetime | None
    valid_to: datetime | None
    priority: int


class CreatedBalance(Answer):
    balance: LiveBalance | None = Field(
        description="as the engine has it; null until the engine has the change"
    )
    engine: Literal["synced", "pending"]


class AdjustmentRecord(Answer):
    """A balance adjustment: pending until the engine applied it (or refused it)."""

    id: int
    request_id: str
    customer_id: int
    balance_id: str
    amount: Amount
    reason: str
    tax: str | None
    tax_provider: str | None
    ledger: str | None
    status: Literal["pending", "applied", "refused"]
    result: str | None
    balance_after: Amount | None
    requested_by: str
    requested_at: datetime
    applied_at: datetime | None


class RatedEvent(Answer):
    """One rated record of the customer's usage."""

    request_id: str
    kind: str
    subscriber: str
    service: str
    rate: str
    event_time: datetime
    charged_at: datetime
    units: int
    rated_units: int
    cost: Amount
    currency: str
    uncovered: Amount
    impacts: str = Field(description="balance|resource|amount,... (smallest units)")
    session_id: str
    refunded: str
    attributes: dict[str, str]
    reason: str


class UsageAdjusted(Answer):
    """What the engine refunded of a charged event (a refusal is a problem, not this)."""

    request_id: str = Field(description="the idempotency key given: the engine's refund id")
    event_id: str = Field(description="the engine's id of the event refunded")
    result: str
    message: str
    refunded: Amount | None
    currency: str
    amount_before: Amount
    amount_after: Amount


class ManualEventCharged(Answer):
    """The engine's answer to a usage event entered by hand (a refusal is a problem, not
    this)."""

    request_id: str = Field(description="the idempotency key given")
    event_id: str = Field(description="the engine's event id: the request_id")
    result: str
    message: str
    cost: Amount | None
    currency: str | None
