"""Prices of what a subscription buys: list price, discounts (the offer's, then coupons', then a
voucher's), net price, in Decimal and rounded once per line to the currency's minor unit.

`price_line` is the only place a price with its discounts is computed: buying (`price_lines`),
changing a purchase's quantity and the billing runs' recurring fees all call it with the unit
price and the discount terms kept with the purchase, so buying 3 at once and buying 2 then
changing to 3 cost the same, and a line's discounts always add up to its discount."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Literal

from tarif_catalog.model import MICROS_PER_UNIT
from tarif_catalog.offers import Offer, Product


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """A redeemed coupon as pricing sees it: a percent or an amount off each product's price."""

    code: str
    percent: Decimal | None
    amount: Decimal | None  # in the subscription's currency


DiscountSource = Literal["offer", "coupon", "voucher"]


@dataclass(frozen=True, slots=True)
class DiscountTerm:
    """One discount as agreed when the product was bought: a percent of the line's list price,
    or an amount (in the line's currency) off the line once, not per unit. A voucher is 100 %:
    whatever the other discounts left."""

    source: DiscountSource
    id: str  # the offer discount's id, the coupon's or voucher's code
    percent: Decimal | None = None
    amount: Decimal | None = None

    def __post_init__(self) -> None:
        if (
            (self.percent is None) == (self.amount is None)
            or (self.percent or 0) < 0
            or (self.amount or 0) < 0
        ):
            raise ValueError(f"{self.source} {self.id!r} needs one non-negative percent or amount")

    def to_json(self) -> dict[str, str]:
        """As `purchases.discount_terms` keeps it (decimals as strings)."""
        kept = {"source": self.source, "id": self.id}
        if self.percent is not None:
            kept["percent"] = str(self.percent)
        if self.amount is not None:
            kept["amount"] = str(self.amount)
        return kept

    @classmethod
    def from_json(cls, kept: Mapping[str, Any]) -> DiscountTerm:
        percent, amount = kept.get("percent"), kept.get("amount")
        return cls(
            kept["source"],
            kept["id"],
            None if percent is None else Decimal(str(percent)),
            None if amount is None else Decimal(str(amount)),
        )


def terms_from_json(kept: Iterable[Mapping[str, Any]]) -> tuple[DiscountTerm, ...]:
    """The terms of a purchase as `purchases.discount_terms` keeps them, in their order."""
    return tuple(DiscountTerm.from_json(k) for k in kept)


@dataclass(frozen=True, slots=True)
class Line:
    """One bought product, priced: every amount but the unit price has the currency's decimals."""

    product: str
    quantity: int
    list_price: Decimal  # unit price x quantity, rounded once (half up) to the currency
    discounts: tuple[tuple[str, str, Decimal], ...]  # (source, id or code, amount), in order
    price: Decimal  # list_price - sum of the discounts, never below 0
    unit_price: Decimal  # exact, as the catalog had it when bought
    terms: tuple[DiscountTerm, ...]  # what the discounts were computed from, in order

    @property
    def discount(self) -> Decimal:
        """The sum of the discounts (exactly list price - price)."""
        return self.list_price - self.price


def price_line(
    product: str,
    unit_price: Decimal,
    quantity: int,
    terms: Sequence[DiscountTerm],
    decimals: int,
) -> Line:
    """Price `quantity` units of `product` at `unit_price` with the discount `terms` applied in
    their order, in a currency of `decimals` decimals. The one pricing rule:

    - list price = unit price x quantity, rounded half up to the minor unit (10**-decimals);
    - a percent term takes that percent of the *list* price; an amount term takes its amount
      off the line once (not per unit), whatever the quantity;
    - each discount is rounded half up to the minor unit, then capped at what is left of the
      line, so price = list price - sum(discounts) >= 0 exactly;
    - a discount that comes to 0 (nothing left, or too small for a minor unit) is not listed.

    Pure: the same arguments give the same line, whether the product is bought now, its
    quantity changed later, or its recurring fee billed. Raises ValueError for a quantity
    below 1 or a negative unit price.
    """
    if quantity < 1:
        raise ValueError(f"quantity of {product!r} must be at least 1, got {quantity}")
    if unit_price < 0:
        raise ValueError(f"unit price of {product!r} must not be negative, got {unit_price}")
    minor = Decimal(1).scaleb(-decimals)
    with localcontext() as context:
        context.prec = 60  # exact for any catalog amount; quantize() raises rather than rounds
        list_price = (unit_price * quantity).quantize(minor, rounding=ROUND_HALF_UP)
        left = list_price
        discounts = []
        for term in terms:
            off = list_price * term.percent / 100 if term.percent is not None else term.amount
            assert off is not None  # DiscountTerm holds one of the two
            off = min(off.quantize(minor, rounding=ROUND_HALF_UP), left)
            if off > 0:
                discounts.append((term.source, term.id, off))
                left -= off
    return Line(product, quantity, list_price, tuple(discounts), left, unit_price, tuple(terms))


def offer_terms(
    offer: Offer,
    product: str,
    coupons: Sequence[CouponTerms] = (),
    voucher: str | None = None,
) -> tuple[DiscountTerm, ...]:
    """The discount terms of a product bought from `offer`, in the order they apply: the
    offer's discounts in catalog order (those limited to other products left out), then the
    coupons in the order given, then the voucher that pays it (if any)."""
    terms = [
        DiscountTerm(
            "offer",
            d.id,
            d.percent,
            None if d.amount_micros is None else Decimal(d.amount_micros) / MICROS_PER_UNIT,
        )
        for d in offer.discounts
        if not d.products or product in d.products
    ]
    terms += [DiscountTerm("coupon", c.code, c.percent, c.amount) for c in coupons]
    if voucher is not None:
        terms.append(DiscountTerm("voucher", voucher, percent=Decimal(100)))
    return tuple(terms)


def price_lines(
    products: Mapping[str, Product],
    offer: Offer,
    chosen: Mapping[str, int],
    decimals: int,
    coupons: Sequence[CouponTerms] = (),
    voucher: str | None = None,
) -> list[Line]:
    """Price the products bought from `offer` (`chosen`: product -> quantity) with
    `price_line`, each with its `offer_terms`; lines come in the offer's item order.

    The caller has decided which optional items are bought. Raises ValueError for a chosen
    product that is not an item of the offer, a quantity below 1, or a coupon without exactly
    one of percent and amount (or with a negative one).
    """
    items = {item.product for item in offer.items}
    for product, quantity in chosen.items():
        if product not in items:
            raise ValueError(f"{product!r} is not a product of offer {offer.name!r}")
        if quantity < 1:
            raise ValueError(f"quantity of {product!r} must be at least 1, got {quantity}")
    for coupon in coupons:  # checked even when no line is bought
        DiscountTerm("coupon", coupon.code, coupon.percent, coupon.amount)
    return [
        price_line(
            item.product,
            Decimal(products[item.product].price_micros) / MICROS_PER_UNIT,
            chosen[item.product],
            offer_terms(offer, item.product, coupons, voucher),
            decimals,
        )
        for item in offer.items
        if item.product in chosen
    ]
