"""Answers about customers: the list, the details, notifications, the self-care login."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from admin_api.answers.base import Amount, Answer, Timestamp


class CustomerSummary(Answer):
    """A customer in a list."""

    id: int
    account_id: str
    full_name: str
    email: str
    city: str
    country: str
    status: str
    customer_type: str
    payment_method: str
    subscriptions: int = Field(description="its subscriptions, cancelled ones left out")
    services: int = Field(description="the services of those subscriptions (not cancelled)")
    created_at: datetime


class Account(Answer):
    """Who the customer is (emptied once a closed account is deleted)."""

    first_name: str
    last_name: str
    full_name: str
    email: str
    phone: str
    customer_type: str
    address: str
    city: str
    state: str
    country: str
    organisation: str | None
    postcode: str | None
    custom_attributes: dict[str, str | int | bool]


class BillingAddress(Answer):
    address_lines: list[str]
    city: str
    postcode: str | None = None
    country: str


class Payment(Answer):
    """How the customer pays: the method and its details (none for an invoice, none left
    once a closed account is deleted), and what invoices say of the buyer."""

    method: str
    billing_address: BillingAddress | None = Field(
        default=None, description="none: invoices go to the customer's own address"
    )
    tax_id: str | None = Field(default=None, description="the buyer's tax id (EU VAT checked)")
    holder: str | None = Field(default=None, description="credit_card")
    gateway: str | None = Field(default=None, description="credit_card")
    token: str | None = Field(default=None, description="credit_card: the gateway's token")
    mandate_id: str | None = Field(default=None, description="direct_debit")
    signature_date: str | None = Field(default=None, description="direct_debit (YYYY-MM-DD)")
    iban: str | None = Field(default=None, description="direct_debit")
    bic: str | None = Field(default=None, description="direct_debit")


class ContactAnswer(Answer):
    """Where the customer is told things and who it is reached through; a field it does not
    have is left out."""

    tag: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organisation: str | None = None
    address_lines: list[str] | None = None
    city: str | None = None
    postcode: str | None = None
    country: str | None = None


class ContactList(Answer):
    """A customer's contacts, by tag."""

    contacts: list[ContactAnswer]


class SubscriptionSummary(Answer):
    id: int
    plan: str
    payment_type: str
    currency: str
    interval: str | None = Field(description="its billing profile's (none: no profile)")
    billing_day: int | None = Field(description="its billing profile's (none: no profile)")
    status: str
    credit_profile: str | None
    credit_limit: Amount | None
    created_at: Timestamp
    cancelled_at: Timestamp | None
    billing_profile_id: int | None = Field(description="its balance group's billing profile")
    balance_group: str
    services: list[str]


class CustomerBalance(Answer):
    """A balance of the customer: its amount live from the engine (with what open sessions
    hold and what is available), or as provisioned; the details' `balances_source` says
    which."""

    id: str
    resource: str
    amount: Amount
    reserved: Amount | None = Field(default=None, description="live only: held by sessions")
    available: Amount | None = Field(default=None, description="live only")
    valid_from: Timestamp | None
    valid_to: Timestamp | None
    priority: int
    credit_limit: Amount | None
    balance_group: str


class BalanceGroupRef(Answer):
    name: str
    account_id: str
    billing_profile_id: int | None
    valid_from: Timestamp | None
    valid_to: Timestamp | None


class Customer(Answer):
    """Everything about one customer."""

    id: int
    account_id: str
    status: str
    account: Account
    payment: Payment
    contacts: list[ContactAnswer]
    subscriptions: list[SubscriptionSummary]
    balances: list[CustomerBalance]
    balances_source: Literal["live", "provisioned"] = Field(
        description="live when the engine gave every balance's amount (GET of one customer);"
        " provisioned, with `balances_note` saying why, when it could not, and in the answers"
        " of changes"
    )
    balances_note: str | None = Field(
        default=None, description="provisioned: why the amounts are not live"
    )
    balance_groups: list[BalanceGroupRef]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    delete_after: datetime | None
    engine: Literal["synced", "pending"] = Field(
        description="synced: Redis has it; pending: the outbox will bring it"
    )


class Delivery(Answer):
    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str
    delivered_at: Timestamp | None


class Notification(Answer):
    """A threshold crossed, with its deliveries."""

    id: int
    account_id: str
    subscriber: str
    type: str
    threshold: str
    resource: str
    unit: str
    direction: str
    threshold_value: Amount
    value: Amount
    event_time: Timestamp
    fired_at: Timestamp
    deliveries: list[Delivery]


class SelfcareUser(Answer):
    """A customer's own login (never its password)."""

    id: int
    customer_id: int
    email: str
    enabled: bool
    email_verified: bool
    email_verified_at: datetime | None
    created_at: datetime
    updated_at: datetime


class IssuedToken(Answer):
    """A one-time token was e-mailed to the self-care user (it is not shown here)."""

    email: str = Field(description="where the token goes")
    expires_at: datetime
    delivery_id: int = Field(
        description="the e-mail's delivery, sent and retried by the notifier (billing_batch)"
    )
