"""Answers about billing: bills and their items and adjustments, billing runs, invoice previews,
invoices and credit notes, payments. Amounts are exact decimal text."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import Field

from admin_api.answers.base import Amount, Answer


class Bill(Answer):
    """One billing cycle's charges of a billing profile: `inactive` (the next cycle's),
    `active` (the current one), `billing` (billed, not fully paid) or `closed` (paid)."""

    id: int
    billing_profile_id: int
    customer_id: int
    status: str
    kind: str = Field(
        description="`cycle`, `now` for a bill made by bill-now, `usage` for the usage of"
        " products invoiced on usage (the usage_invoicing job)"
    )
    currency: str
    period_start: datetime
    period_end: datetime
    usage_until: datetime | None = Field(description="once billed: usage taken up to this time")
    total: Amount = Field(description="once billed: its invoice's total (tax included)")
    amount_due: Amount
    items_total: Amount = Field(description="the net sum of its items so far (not informational)")
    billed_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    invoice_id: int | None
    invoice_number: str | None
    invoice_status: str | None


class BillItem(Answer):
    id: int
    bill_id: int
    source: str = Field(description="what made the item, unique per bill")
    kind: str
    description: str
    balance_group_id: int | None
    subscription_id: int | None
    purchase_id: int | None
    service: str
    rate: str
    events: int
    units: Amount
    amount: Amount = Field(description="net, in the bill's currency")
    informational: bool = Field(description="prepaid: paid from the balance, not due")
    tax: str | None
    ledger: str | None
    period_start: datetime | None
    period_end: datetime | None
    created_at: datetime


class BillAdjustment(Answer):
    """A credit (< 0) or debit (> 0) of a bill: an item of an open bill, or a credit note of
    a billed one."""

    id: int
    request_id: str
    bill_id: int
    bill_item_id: int | None
    balance_group_id: int | None
    amount: Amount
    reason: str
    tax: str | None
    tax_provider: str | None
    ledger: str | None
    credit_note_id: int | None
    credit_note_number: str | None
    requested_by: str
    created_at: datetime
    replayed: bool = Field(
        default=False, description="this request id was recorded before: nothing new written"
    )


class IssuedInvoice(Answer):
    bill_id: int
    invoice_id: int
    number: str | None = Field(description="none when it failed")
    status: str = Field(description="`billing` (due), `closed` (nothing due) or `failed`")
    error: str | None
    total: Amount
    amount_due: Amount


class BillingRun(Answer):
    """What a run-billing or bill-now request billed; a repeat of its `request_id` answers
    the same (with `replayed`)."""

    request_id: str
    billing_profile_id: int
    operation: str = Field(description="`run_billing` or `bill_now`")
    at: datetime = Field(description="the run's process-now time")
    opened: int = Field(description="bills opened (a profile's first cycle)")
    billed: int = Field(description="bills billed")
    invoices: list[IssuedInvoice]
    replayed: bool = False


class PartyAnswer(Answer):
    name: str
    address: str
    city: str
    postcode: str
    country: str
    vat_id: str
    company_id: str
    email: str


class DocumentLineAnswer(Answer):
    number: int
    description: str
    quantity: Amount
    unit_price: Amount
    net: Amount
    tax_category: str
    tax_rate: Amount
    kind: str
    period_start: date | None
    period_end: date | None


class TaxSubtotalAnswer(Answer):
    category: str
    rate: Amount
    taxable: Amount
    tax: Amount


class InvoiceDocument(Answer):
    """The invoice as the customer sees it (the renderers' input)."""

    kind: str
    number: str
    issue_date: date
    due_date: date
    currency: str
    seller: PartyAnswer
    buyer: PartyAnswer
    lines: list[DocumentLineAnswer]
    taxes: list[TaxSubtotalAnswer]
    net_total: Amount
    tax_total: Amount
    total: Amount
    credit_applied: Amount
    paid: Amount
    amount_due: Amount
    period_start: date | None
    period_end: date | None
    customer_account: str
    preceding_number: str
    payment_terms: str
    seller_iban: str
    mandate_reference: str
    notes: list[str]
    exemption_reasons: list[list[str]] = Field(
        description="[category, reason] of each exempt VAT category on it"
    )


class PreviewEvent(Answer):
    """A rated record the previewed invoice would take."""

    account_id: str
    request_id: str
    kind: str
    subscriber: str | None
    service: str
    rate: str
    event_time: datetime
    units: Amount
    rated_units: Amount
    cost: Amount
    currency: str


class InvoicePreview(Answer):
    """The invoice the next run would issue for the active bill, as of now; nothing written."""

    document: InvoiceDocument | None = Field(description="none: nothing would be due")
    events: list[PreviewEvent] | None = Field(description="with `details=true`: the usage")


class InvoiceLine(Answer):
    number: int
    kind: str
    description: str
    quantity: Amount
    unit_price: Amount
    net: Amount
    tax: str | None
    tax_category: str
    tax_rate: Amount
    ledger: str | None
    bill_item_id: int | None
    period_start: date | None
    period_end: date | None


class InvoiceTax(Answer):
    category: str
    rate: Amount
    taxable: Amount
    tax: Amount
    exemption_reason: str


class Invoice(Answer):
    """An invoice or a credit note (`kind`); `failed` has no number and says why (`error`)."""

    id: int
    kind: str
    number: str | None
    status: str
    error: str | None
    bill_id: int
    billing_profile_id: int
    customer_id: int
    corrects_id: int | None
    corrects_number: str | None
    series: str
    currency: str
    issue_date: date | None
    due_date: date | None
    period_start: date | None
    period_end: date | None
    net_total: Amount
    tax_total: Amount
    total: Amount
    credit_applied: Amount
    paid: Amount
    credited: Amount
    transferred: Amount
    amount_due: Amount
    transferred_to: int | None
    notes: list[str]
    issued_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    lines: list[InvoiceLine] | None = Field(default=None, description="one invoice: its lines")
    taxes: list[InvoiceTax] | None = Field(default=None, description="one invoice: its VAT")


class PaymentAllocation(Answer):
    invoice_id: int
    number: str
    amount: Amount


class Payment(Answer):
    """Money received (`charge`), given back (`refund`), or a charge the bank gave back
    (`reversal`, naming it in `reverses_id`; its allocations are negative); what no invoice
    took is credit."""

    id: int
    request_id: str
    billing_profile_id: int
    customer_id: int
    kind: str
    reverses_id: int | None = None
    method: str
    provider: str
    reference: str
    note: str
    amount: Amount
    currency: str
    invoice_id: int | None
    to_credit: Amount
    received_at: datetime
    recorded_by: str
    created_at: datetime
    allocations: list[PaymentAllocation] | None = Field(
        default=None, description="one payment: the invoices it paid"
    )
    replayed: bool | None = Field(
        default=None, description="recording: this request id was recorded before"
    )
