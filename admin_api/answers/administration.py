"""Answers of the administration: API keys, the audit log, vouchers, coupons, unratable usage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from admin_api.answers.base import Amount, Answer, Timestamp


class ApiKey(Answer):
    """A key as listed: never the key itself."""

    prefix: str
    role: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class NewApiKey(Answer):
    key: str = Field(description="shown once: keep it")
    prefix: str
    role: str
    name: str


class AuditRecord(Answer):
    """Who changed what, when, and how it looked before and after."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    object_type: str
    object_id: str
    before: Any = Field(description="the object (JSON) before the change; null when created")
    after: Any = Field(description="the change or the object (JSON) after it; null when deleted")


class Voucher(Answer):
    """A credit voucher (resource and amount) or a pack voucher (pack)."""

    code: str
    resource: str | None
    amount: Amount | None
    pack: str | None
    max_uses: int
    uses: int
    expires_at: datetime | None
    description: str
    created_at: datetime


class Coupon(Answer):
    """A percent or an amount (in currency) off each product's price, for some cycles."""

    code: str
    percent: Amount | None
    amount: Amount | None
    currency: str | None
    cycles: int
    plans: list[str]
    max_uses: int
    uses: int
    expires_at: datetime | None
    description: str
    created_at: datetime


class OriginalEvent(Answer):
    """An unratable event as received, kept once it is corrected."""

    subscriber: str
    service: str
    attributes: dict[str, str]


class UnratedEvent(Answer):
    """Usage the engine could not rate: why, as corrected, and the last re-rate's answer."""

    id: int
    event_id: str
    reason: str
    message: str
    subscriber: str
    service: str
    event_time: Timestamp
    units: int
    attributes: dict[str, str]
    status: str
    original: OriginalEvent | None
    corrections: int
    rerate_attempts: int
    rerate_id: str | None
    result: str | None
    result_message: str | None
    cost: Amount | None
    currency: str | None
    kept_at: Timestamp
    updated_at: Timestamp
