"""Answers about what a customer subscribes to: plans, services, billing profiles, balance
groups, products bought and vouchers applied."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from admin_api.answers.balances import AdjustmentRecord
from admin_api.answers.base import Amount, Answer, Timestamp


class PlanChanged(Answer):
    """A plan transition: done now, scheduled for later, or unchanged (the plan already)."""

    plan: str
    status: Literal["done", "scheduled", "unchanged"]
    transition_id: int | None = Field(default=None, description="scheduled: its id")
    effective_at: Timestamp | None = Field(default=None, description="scheduled: when")
    adjustment_id: int | None = Field(
        default=None, description="done, prepaid: the adjustment that pays the new bundles"
    )


class PlanTransition(Answer):
    id: int
    subscription_id: int
    plan: str
    effective_at: datetime
    status: str
    reason: str
    requested_by: str
    requested_at: datetime
    done_at: datetime | None


class DeviceAnswer(Answer):
    """A device as given (a field the request left out is not stored)."""

    imei: str | None = None
    name: str = ""


class Service(Answer):
    """A service identifier of the customer."""

    identifier: str
    subscription_id: int
    status: str
    valid_from: datetime | None
    valid_to: datetime | None
    devices: list[DeviceAnswer]
    created_at: datetime


class BillingProfile(Answer):
    """A billing profile with its cycle rule and the cycle in progress (computed by
    tarif_billing.cycles: [cycle_start, cycle_end))."""

    id: int
    customer_id: int
    name: str
    payment_type: str
    currency: str
    interval: str
    billing_day: int = Field(description="weekly: ISO weekday 1-7; otherwise 1-31")
    anchor_month: int = Field(description="quarterly, yearly: a month cycles start in")
    time_zone: str = Field(description="IANA name: cycles start at its local midnight")
    cycle_start: datetime = Field(description="the cycle in progress starts (UTC)")
    cycle_end: datetime = Field(description="and ends, the next one's start (UTC)")
    valid_from: datetime | None
    valid_to: datetime | None
    tax: str | None = Field(description="its invoices' tax; none: TARIF_DEFAULT_TAX")
    payment_terms_days: int | None = Field(description="none: TARIF_PAYMENT_TERMS_DAYS")
    pending_total: Amount = Field(description="what its issued invoices still ask")
    credit_balance: Amount = Field(description="overpaid, used by its next invoice")
    created_at: datetime
    updated_at: datetime


class BalanceGroup(Answer):
    """A balance group (one engine account) with its counts of active subscriptions and of
    balances."""

    id: int
    name: str
    account_id: str
    billing_profile_id: int | None
    valid_from: datetime | None
    valid_to: datetime | None
    created_at: datetime
    subscriptions: int
    balances: int


class Discount(Answer):
    source: str
    id: str
    amount: Amount


class Purchase(Answer):
    """A product bought: from the plan, a pack or a voucher; its price and what it grants."""

    id: int
    subscription_id: int
    origin: str
    offer: str
    product: str
    quantity: int
    value: Amount | None
    currency: str
    charge: str
    list_price: Amount
    discount: Amount
    price: Amount
    discounts: list[Discount]
    coupons: list[str]
    balance_id: str | None
    resource: str | None
    granted: Amount | None
    valid_from: datetime | None
    valid_to: datetime | None
    status: str = Field(
        description="scheduled (a future start), pending (a prepaid payment in progress),"
        " active, suspended (a renewal unpaid), refused, cancelled"
    )
    created_at: datetime
    cancelled_at: datetime | None
    starts_at: datetime | None = Field(description="a deferred purchase's start")
    ends_at: datetime | None = Field(description="its end (a termination), if it has one")
    period_start: datetime | None = Field(description="recurring: the cycle in progress")
    period_end: datetime | None = Field(description="recurring: renewed at this time")
    cycles: int = Field(description="cycles given so far, the first included")
    services: list[str]


class PackVoucherUsed(Answer):
    """A pack voucher: the products it bought."""

    code: str
    products: list[Purchase]
    account: str | None = Field(description="the engine account the products went to")


# A credit voucher answers with the adjustment it made; a pack voucher with what it bought.
VoucherUsed = AdjustmentRecord | PackVoucherUsed


class ContractChange(Answer):
    """A change of a bought product at a date, and what became of it."""

    id: int
    request_id: str
    customer_id: int
    subscription_id: int
    purchase_id: int
    kind: Literal["quantity", "price", "product", "terminate"]
    quantity: int | None
    unit_price: Amount | None
    product: str | None
    effective_at: datetime
    status: Literal["scheduled", "done", "failed", "cancelled"]
    reason: str = Field(description="failed: why it could not be applied")
    new_purchase_id: int | None = Field(description="kind product: the purchase replacing it")
    adjustment_id: int | None = Field(
        description="the adjustment it made: a grant moved, or a prepaid product's payment"
    )
    requested_by: str
    requested_at: datetime
    done_at: datetime | None
