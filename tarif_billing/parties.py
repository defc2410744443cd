"""The parties of an invoice: the seller from settings, the buyer from the customer."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tarif_billing.document import Party
from tarif_common.settings import Settings


def seller_party(settings: Settings) -> Party:
    return Party(
        name=settings.seller_name,
        address=settings.seller_address,
        city=settings.seller_city,
        postcode=settings.seller_postcode,
        country=settings.seller_country,
        vat_id=settings.seller_vat_id,
        company_id=settings.seller_company_id,
        email=settings.seller_email,
    )


def buyer_party(row: Mapping[str, Any]) -> Party:
    """The customer as invoiced: their billing address and tax id when their payment
    information has them, else their own address."""
    info = row["payment_info"]
    if isinstance(info, str):
        info = json.loads(info)
    info = info or {}
    billing = info.get("billing_address") or {}
    name = row["organisation"] or f"{row['first_name']} {row['last_name']}"
    lines = billing.get("address_lines")
    return Party(
        name=name,
        address=", ".join(lines) if lines else billing.get("address", row["address"]),
        city=billing.get("city", row["city"]),
        postcode=billing.get("postcode", row["postcode"] or ""),
        country=billing.get("country", row["country"]),
        vat_id=info.get("tax_id") or "",
        email=row["email"],
    )
