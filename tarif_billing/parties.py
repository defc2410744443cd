"""The parties of an invoice: the seller from settings; the buyer: the customer, its billing
address and tax id.

The billing details live in the customer's payment information (`customers.payment_info`):
an optional `billing_address` (address lines, city, postcode, country; when absent the
customer's own address is billed) and an optional `tax_id`. An EU VAT number there has been
checked (and compacted) by `check_tax_id` when it was given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stdnum.eu import vat
from stdnum.exceptions import ValidationError
from stdnum.util import clean

from tarif_billing.document import Party
from tarif_common.settings import Settings

# two-letter prefixes of EU VAT numbers: the member states (Greece's is EL) and XI (Northern
# Ireland)
_EU_VAT_PREFIXES = frozenset(vat.MEMBER_STATES) | {"el"}
_OTHER_TAX_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./-]{1,31}$")


def check_tax_id(value: str) -> str:
    """A buyer's tax id as kept: an EU VAT number (it starts with a member state's prefix)
    checked with python-stdnum and compacted (`fr 32 123...` -> `FR32123...`); any other tax
    id as given, if it looks like one. Raises ValueError saying why not."""
    value = value.strip()
    compact = clean(value, " -./").upper()
    if compact[:2].lower() in _EU_VAT_PREFIXES:
        try:
            return str(vat.validate(compact))
        except ValidationError as exc:
            raise ValueError(f"not a valid EU VAT number: {exc}") from None
    if not _OTHER_TAX_ID.fullmatch(value):
        raise ValueError("a tax id is 2-32 letters, digits, spaces, dots, slashes or dashes")
    return value


def buyer_party(row: Mapping[str, Any]) -> Party:
    """The buyer of an invoice from a `customers` row (`SELECT *`; an asyncpg record does):
    its organisation (or full name), its billing address when its payment information has one
    (else its own address), its tax id and e-mail. Address lines are joined by ", "."""
    payment = row.get("payment_info") or {}
    name = row.get("organisation") or row.get("full_name")
    if not name:
        name = f"{row.get('first_name') or ''} {row.get('last_name') or ''}".strip()
    billed = payment.get("billing_address")
    if billed:
        address = ", ".join(billed.get("address_lines") or [])
        city, postcode, country = billed["city"], billed.get("postcode"), billed["country"]
    else:
        address = row.get("address") or ""
        city, postcode, country = row.get("city"), row.get("postcode"), row.get("country")
    return Party(
        name=name,
        address=address,
        city=city or "",
        postcode=postcode or "",
        country=country or "",
        vat_id=payment.get("tax_id") or "",
        email=row.get("email") or "",
    )


def seller_party(settings: Settings) -> Party:
    """The seller on every invoice, from the TARIF_SELLER_* settings."""
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
