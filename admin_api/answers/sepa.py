"""SEPA direct debit: mandates, collections with their items, the bank's results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from admin_api.answers.base import Amount, Answer


class Mandate(Answer):
    """A signed mandate; `sequence` is the type of its next debit (FRST until one is paid)."""

    id: int
    creditor_id: str = Field(description="'' while TARIF_SEPA_CREDITOR_ID is unset")
    reference: str
    iban: str
    bic: str | None
    signature_date: date
    status: Literal["active", "revoked"]
    sequence: Literal["FRST", "RCUR"]
    revoked_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CollectionItem(Answer):
    """One debit: an invoice's amount due under a mandate, and the bank's result."""

    id: int
    invoice_id: int
    invoice_number: str
    mandate_id: int
    mandate_reference: str
    billing_profile_id: int
    amount: Amount
    end_to_end_id: str
    sequence_type: Literal["FRST", "RCUR"]
    status: Literal["pending", "accepted", "rejected", "returned"]
    reason_code: str | None = Field(description="the bank's reason for a rejection (AM04, ...)")
    payment_id: int | None
    result_at: datetime | None


class Collection(Answer):
    """A pain.008 file: the due invoices collected on one date."""

    id: int
    request_id: str
    message_id: str = Field(description="the file's MsgId, which the bank's reports quote")
    creditor_id: str
    collection_date: date
    scheme: str = Field(description="pain.008.001.08")
    status: Literal["open", "closed"] = Field(description="closed: every item has its result")
    currency: str
    item_count: int
    total: Amount
    created_by: str
    created_at: datetime
    closed_at: datetime | None


class CollectionDetail(Collection):
    items: list[CollectionItem]


class ItemResult(Answer):
    """What one debit named in the bank's file did."""

    end_to_end_id: str
    answer: Literal[
        "paid", "rejected", "returned", "already_paid", "already_rejected", "already_returned",
        "pending", "contradicted", "unknown",
    ] = Field(
        description="paid/rejected: applied now; returned: paid before and given back by the"
        " bank now (the payment reversed, the invoice due again); already_*: applied before"
        " (nothing new);"
        " pending: no final result yet; contradicted: the opposite of the result the item"
        " already has (not applied); unknown: no such debit"
    )  # fmt: skip
    item_id: int | None
    invoice_id: int | None
    reason: str | None
    payment_id: int | None


class ResultsImported(Answer):
    kind: Literal["pain.002", "camt.054"]
    counts: dict[str, int] = Field(description="items per answer")
    items: list[ItemResult]
