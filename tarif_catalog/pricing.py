"""Prices of what a subscription buys: list price, discounts (the offer's, then coupons'),
net price, in Decimal and rounded once per line to the currency's minor unit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

from tarif_catalog.model import MICROS_PER_UNIT
from tarif_catalog.offers import Offer, Product


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """A redeemed coupon as pricing sees it: a percent or an amount off each product's price."""

    code: str
    percent: Decimal | None
    amount: Decimal | None  # in the subscription's currency


@dataclass(frozen=True, slots=True)
class Line:
    """One bought product of an offer, priced: every amount has the currency's decimals."""

    product: str
    quantity: int
    list_price: Decimal  # unit price x quantity, rounded once (half up) to the currency
    discounts: tuple[tuple[str, str, Decimal], ...]  # (source "offer"|"coupon", id or code, amount)
    price: Decimal  # list_price - sum of the discounts, never below 0


def price_lines(
    products: Mapping[str, Product],
    offer: Offer,
    chosen: Mapping[str, int],
    decimals: int,
    coupons: Sequence[CouponTerms] = (),
) -> list[Line]:
    """Price the products bought from `offer` (`chosen`: product -> quantity).

    The caller has decided which optional items are bought; lines come in the offer's item order.
    Rules, per line:

    - list price = unit price x quantity, rounded half up to the minor unit (10**-decimals);
    - the offer's discounts apply in catalog order (those limited to other products skip the
      line), then the coupons in the order given, each applying to every line;
    - a percent discount is that percent of the line's *list* price; an amount discount is that
      amount off the line once (not per unit);
    - each discount is rounded half up to the minor unit, then capped at what is left of the
      line, so price = list price - sum(discounts) >= 0 exactly;
    - a discount that comes to 0 on a line (nothing left, or too small to round to a minor unit)
      is not listed.

    Raises ValueError for a chosen product that is not an item of the offer, a quantity below 1,
    or a coupon without exactly one of percent and amount (or with a negative one).
    """
    items = {item.product for item in offer.items}
    for product, quantity in chosen.items():
        if product not in items:
            raise ValueError(f"{product!r} is not a product of offer {offer.name!r}")
        if quantity < 1:
            raise ValueError(f"quantity of {product!r} must be at least 1, got {quantity}")
    for coupon in coupons:
        if (
            (coupon.percent is None) == (coupon.amount is None)
            or (coupon.percent or 0) < 0
            or (coupon.amount or 0) < 0
        ):
            raise ValueError(f"coupon {coupon.code!r} needs one non-negative percent or amount")
    minor = Decimal(1).scaleb(-decimals)

    def rounded(value: Decimal) -> Decimal:
        return value.quantize(minor, rounding=ROUND_HALF_UP)

    lines = []
    with localcontext() as context:
        context.prec = 60  # exact for any catalog amount; quantize() raises rather than rounds
        for item in offer.items:
            if item.product not in chosen:
                continue
            quantity = chosen[item.product]
            unit_price = Decimal(products[item.product].price_micros) / MICROS_PER_UNIT
            list_price = rounded(unit_price * quantity)
            terms: list[tuple[str, str, Decimal | None, Decimal | None]] = [
                (
                    "offer",
                    d.id,
                    d.percent,
                    None if d.amount_micros is None else Decimal(d.amount_micros) / MICROS_PER_UNIT,
                )
                for d in offer.discounts
                if not d.products or item.product in d.products
            ]
            terms += [("coupon", c.code, c.percent, c.amount) for c in coupons]
            left = list_price
            discounts = []
            for source, ident, percent, amount in terms:
                off = list_price * percent / 100 if percent is not None else amount
                assert off is not None
                off = min(rounded(off), left)
                if off > 0:
                    discounts.append((source, ident, off))
                    left -= off
            lines.append(Line(item.product, quantity, list_price, tuple(discounts), left))
    return lines
