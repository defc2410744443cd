"""Card payment attempts of the payment collection (docs/payment-collection.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from admin_api.answers.base import Amount, Answer


class PaymentAttempt(Answer):
    """One charge of an invoice asked of the payment gateway: `pending` (being sent, or left
    by a crash: the next run sends it again under the same key), `succeeded` (recorded as
    `payment_id`), `declined` (nothing was taken) or `error` (no usable answer)."""

    id: int
    invoice_id: int
    invoice_number: str
    billing_profile_id: int
    customer_id: int
    attempt: int = Field(description="1, 2, ... per invoice")
    status: Literal["pending", "succeeded", "declined", "error"]
    code: str | None = Field(description="the gateway's code: insufficient_funds, timeout, ...")
    message: str | None
    amount: Amount
    currency: str
    gateway: str
    charge_id: str | None = Field(description="the gateway's id of the approved charge")
    payment_id: int | None
    sends: int = Field(description="requests sent to the gateway (retries within a run)")
    next_retry_at: datetime | None = Field(
        description="when a run tries the invoice again by itself (null: not by the schedule)"
    )
    gave_up: bool = Field(description="the retry schedule ran out")
    process_now: datetime = Field(description="the time the run acted as of")
    trigger: Literal["job", "retry"]
    run_id: int | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
