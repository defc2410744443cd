"""Answers about the catalog and the reference data."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from admin_api.answers.base import Answer, free_form

_DOCUMENT = (
    "the catalog document: resources, service_types, time_bands, tariffs, plans, credit_profiles,"
    " products, bundles, packs (the format of examples/demo.yaml)"
)


class CatalogVersion(Answer):
    """A published catalog."""

    version: int
    document: dict[str, Any] = free_form(_DOCUMENT)


class VersionInfo(Answer):
    version: int
    published_at: datetime
    published_by: str


class CatalogObject(BaseModel):
    """One object of a catalog section: its name and its fields as in the catalog document."""

    model_config = ConfigDict(extra="allow")

    name: str


class CatalogSection(Answer):
    version: int
    items: list[CatalogObject]
    next_cursor: str | None


class CatalogItem(Answer):
    version: int
    name: str
    item: dict[str, Any] = free_form("the object as in the catalog document")


class Published(Answer):
    """The catalog version a change published."""

    version: int


class CustomerTypeEntry(Answer):
    name: str
    description: str


class AttributeEntry(Answer):
    name: str
    type: str
    required: bool
    description: str


class LedgerEntry(Answer):
    name: str
    account_code: str
    description: str
    ledger_group: str
    revenue_type: str
    account_type: str


class TaxEntry(Answer):
    name: str
    rate: Decimal = Field(description="percent")
    provider: str
    description: str
    category: str = Field(description="VAT category on invoices (UNTDID 5305)")
    exemption_reason: str


class MailTemplateEntry(Answer):
    name: str
    body: str
