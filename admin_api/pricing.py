"""Prices of what a subscription buys: list price, discounts (the offer's, then a coupon's),
net price, in Decimal and rounded once per line to the currency's minor unit."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """A redeemed coupon as pricing sees it: a percent or an amount off each product's price."""

    code: str
    percent: Decimal | None
    amount: Decimal | None  # in the subscription's currency
