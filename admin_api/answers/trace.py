"""The answer of a charge's trace (`GET /v1/usage/{event_id}/trace`): see admin_api/trace.py."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from admin_api.answers.base import Amount, Answer
from admin_api.answers.billing import Bill, BillItem


class KeptAnswer(Answer):
    """The answer the engine keeps for the event's retries (what a retry gets back)."""

    result: str
    message: str
    granted_units: int
    rated_units: int
    cost: Amount | None
    currency: str
    refunded: Amount | None = Field(description="refunded from the event so far")
    tariff: str
    rate: str
    impacts: str = Field(description="balance|resource|amount,... in the smallest unit")
    fingerprinted: bool = Field(
        description="kept with the request's fingerprint: a different request under the same"
        " event id is refused (IDEMPOTENCY_CONFLICT)"
    )
    expires_in: int = Field(description="seconds the engine keeps it still (-1: no expiry)")


class TracedRecord(Answer):
    """The rated record in Postgres (`rated_events`)."""

    account_id: str
    request_id: str = Field(description="the record's id: e:<event>")
    x_request_id: str | None = Field(
        description="the request id of the call that charged it (x-request-id)"
    )
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
    impacts: str
    ingested_at: datetime = Field(description="when the batch stored it")
    collected_bill_id: int | None = Field(description="the usage bill that collected it")


class TracedRefund(Answer):
    request_id: str = Field(description="r:<refund id>")
    x_request_id: str | None
    cost: Amount = Field(description="negative: what was given back")
    currency: str
    event_time: datetime
    charged_at: datetime


class TracedInvoiceLine(Answer):
    invoice_id: int
    invoice_number: str | None
    invoice_status: str
    number: int
    kind: str
    description: str
    quantity: Amount
    unit_price: Amount
    net: Amount
    tax_category: str
    tax_rate: Amount
    bill_item_id: int


class Trace(Answer):
    """One charged event from the engine's answer to the invoice line."""

    event_id: str
    account_id: str
    answer: KeptAnswer | None = Field(description="null once the engine no longer keeps it")
    record: TracedRecord | None = Field(description="null until the batch has stored it")
    refunds: list[TracedRefund]
    bill: Bill | None = Field(
        description="the bill that took the record (`billed`), or the active bill it waits for"
    )
    billed: bool
    bill_items: list[BillItem] = Field(description="the usage items summing the record")
    invoice_lines: list[TracedInvoiceLine]
    notes: list[str] = Field(description="which links are kept and which derived")
