"""The commercial catalog's types: products, what they grant, bundles and packs (see `offers`)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

ValidityKind = Literal["cycle", "forever", "days"]
Charge = Literal["recurring", "one_off"]
# When a recurring fee is billed: for the coming cycle (advance) or the cycle just ended (arrears).
Billed = Literal["advance", "arrears"]

MAX_VALIDITY_DAYS = 3660
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True, slots=True)
class Validity:
    """How long a grant's bucket lasts: the billing cycle, for ever, or `days` from the purchase."""

    kind: ValidityKind
    days: int | None = None  # only (and always) for kind "days"


FOREVER = Validity("forever")


@dataclass(frozen=True, slots=True)
class Grant:
    """What buying a product credits: `amount` of `resource` in its smallest unit.

    Money is in the resource's minor unit (cents for EUR with 2 decimals), never micros, so the
    bucket can be created as is, with no rounding.
    """

    resource: str
    amount: int
    validity: Validity = FOREVER


@dataclass(frozen=True, slots=True)
class Product:
    """Something sold: a price (charged every cycle or once), what it grants, or a service line.

    `service` is set for products that are a line of that service type (the subscription then
    needs service identifiers for it). `invoice_on_usage` (service products only): the usage of
    its lines is invoiced as soon as it is charged (the usage_invoicing job), on a bill of its
    own, instead of waiting for the cycle's bill.
    """

    name: str
    price_micros: int = 0
    charge: Charge = "recurring"
    grants: Grant | None = None
    service: str | None = None
    description: str = ""
    billed: Billed = "advance"
    invoice_on_usage: bool = False


@dataclass(frozen=True, slots=True)
class OfferItem:
    """One product of an offer; `optional` items are bought only when the customer asks."""

    product: str
    quantity: int = 1
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Discount:
    """A reduction of an offer's lines: `percent` of the list price or `amount_micros` off, once.

    Exactly one of `percent` and `amount_micros` is set. `products` limits it to those items of
    the offer; empty means every item.
    """

    id: str
    percent: Decimal | None
    amount_micros: int | None
    products: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Offer:
    """A bundle (included in plans) or an option pack (bought on top of a plan).

    `plans` is only used by packs: the plans it may be bought with, empty meaning any plan.
    """

    name: str
    items: tuple[OfferItem, ...]
    discounts: tuple[Discount, ...] = ()
    plans: tuple[str, ...] = ()
    waive_connect_fee: bool = False  # its free units, when a call starts on them, waive the fee
