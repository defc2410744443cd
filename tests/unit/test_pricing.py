"""Offer pricing: list price, the offer's discounts then a coupon, each rounded once, exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tarif_catalog.offers import Discount, Offer, OfferItem, Product
from tarif_catalog.pricing import (
    CouponTerms,
    DiscountTerm,
    Line,
    price_line,
    price_lines,
    terms_from_json,
)

D = Decimal
PRODUCTS = {
    "monthly-fee": Product("monthly-fee", 9_990_000),
    "voice-100min": Product("voice-100min", 4_000_000),
    "sim-activation": Product("sim-activation", 5_000_000, "one_off"),
}
VOICE_BUNDLE = Offer(
    "voice-bundle",
    (
        OfferItem("monthly-fee"),
        OfferItem("voice-100min", 2),
        OfferItem("sim-activation", optional=True),
    ),
    (
        Discount("launch", D("10"), None, ("voice-100min",)),
        Discount("loyal", None, 1_000_000),
    ),
)


def _one(price_micros: int, *discounts: Discount, quantity: int = 1, decimals: int = 2) -> Line:
    """The single line of a one-product offer."""
    offer = Offer("o", (OfferItem("p"),), discounts)
    (line,) = price_lines({"p": Product("p", price_micros)}, offer, {"p": quantity}, decimals)
    return line


LOYAL = DiscountTerm("offer", "loyal", amount=D(1))
HALF = DiscountTerm("coupon", "HALF", percent=D(50))


def test_worked_example() -> None:
    coupon = CouponTerms("HALF", D("50"), None)
    chosen = {"voice-100min": 2, "monthly-fee": 1}  # the optional SIM is not bought
    lines = price_lines(PRODUCTS, VOICE_BUNDLE, chosen, 2, [coupon])
    assert lines == [
        Line(
            "monthly-fee",
            1,
            D("9.99"),
            # 50 % of 9.99 = 4.995, half up to 5.00
            (("offer", "loyal", D("1.00")), ("coupon", "HALF", D("5.00"))),
            D("3.99"),
            D("9.99"),
            (LOYAL, HALF),
        ),
        Line(
            "voice-100min",
            2,
            D("8.00"),
            (
                ("offer", "launch", D("0.80")),
                ("offer", "loyal", D("1.00")),
                ("coupon", "HALF", D("4.00")),
            ),
            D("2.20"),
            D("4"),
            (DiscountTerm("offer", "launch", percent=D("10")), LOYAL, HALF),
        ),
    ]
    assert [str(line.price) for line in lines] == ["3.99", "2.20"]


def test_lines_follow_the_offer_order_and_only_chosen_products() -> None:
    chosen = {"sim-activation": 1, "monthly-fee": 1}
    lines = price_lines(PRODUCTS, VOICE_BUNDLE, chosen, 2)
    assert [(line.product, line.quantity, line.price) for line in lines] == [
        ("monthly-fee", 1, D("8.99")),
        ("sim-activation", 1, D("4.00")),
    ]


def test_chosen_quantity_overrides_the_offer() -> None:
    (line,) = price_lines(PRODUCTS, VOICE_BUNDLE, {"voice-100min": 3}, 2)
    assert (line.list_price, line.discounts[0], line.price) == (
        D("12.00"),
        ("offer", "launch", D("1.20")),
        D("9.80"),
    )


@pytest.mark.parametrize(
    ("price_micros", "percent", "quantity", "list_price", "off"),
    [
        (1_000_000, "33.33", 1, "1.00", "0.33"),  # 0.3333
        (100_000, "33.33", 1, "0.10", "0.03"),  # 0.03333
        (50_000, "50", 1, "0.05", "0.03"),  # 0.025: half up, not half even (0.02)
        (1_000_000, "66.67", 1, "1.00", "0.67"),  # 0.6667
        (333_333, "10", 3, "1.00", "0.10"),  # 0.999999 rounded once, not per unit
        (125_000, "100", 1, "0.13", "0.13"),  # 0.125 half up
    ],
)
def test_percent_rounds_half_up(
    price_micros: int, percent: str, quantity: int, list_price: str, off: str
) -> None:
    line = _one(price_micros, Discount("d", D(percent), None), quantity=quantity)
    assert line.list_price == D(list_price)
    assert line.discounts == (("offer", "d", D(off)),)
    assert line.price == D(list_price) - D(off)
    assert str(line.price) == str(D(list_price) - D(off))


def test_amount_discount_is_capped_and_a_zero_discount_is_not_listed() -> None:
    coupon = CouponTerms("TEN", None, D("10"))
    offer = Offer("o", (OfferItem("p", 3),), (Discount("big", None, 2_000_000),))
    products = {"p": Product("p", 500_000)}
    (line,) = price_lines(products, offer, {"p": 3}, 2, [coupon])
    # 3 x 0.50 = 1.50; 2.00 off (once, not per unit) is capped at 1.50; the coupon finds nothing
    assert line == Line(
        "p", 3, D("1.50"), (("offer", "big", D("1.50")),), D("0.00"), D("0.5"),
        (DiscountTerm("offer", "big", amount=D(2)), DiscountTerm("coupon", "TEN", amount=D(10))),
    )  # fmt: skip


def test_amount_discount_rounds_to_the_minor_unit() -> None:
    half_cent = _one(1_000_000, Discount("a", None, 5_000), Discount("b", None, 4_999))
    assert half_cent.discounts == (("offer", "a", D("0.01")),)  # 0.004999 rounds to 0: not listed
    assert half_cent.price == D("0.99")


def test_coupon_amount_applies_to_every_line_after_the_offer() -> None:
    coupon = CouponTerms("TWO", None, D("2"))
    chosen = {"monthly-fee": 1, "voice-100min": 2}
    lines = price_lines(PRODUCTS, VOICE_BUNDLE, chosen, 2, [coupon])
    assert [line.discounts[-1] for line in lines] == [("coupon", "TWO", D("2.00"))] * 2
    assert [line.price for line in lines] == [D("6.99"), D("4.20")]


def test_zero_decimals_currency() -> None:
    line = _one(100_500_000, Discount("d", D("12.5"), None), decimals=0)
    # 100.5 -> 101; 12.5 % of 101 = 12.625 -> 13
    assert (line.list_price, line.discounts, line.price) == (
        D("101"),
        (("offer", "d", D("13")),),
        D("88"),
    )
    assert line.price.as_tuple().exponent == 0


def test_refuses_a_product_outside_the_offer_and_a_bad_coupon() -> None:
    with pytest.raises(ValueError, match="'data-1gb' is not a product of offer 'voice-bundle'"):
        price_lines(PRODUCTS, VOICE_BUNDLE, {"data-1gb": 1}, 2)
    with pytest.raises(ValueError, match="at least 1"):
        price_lines(PRODUCTS, VOICE_BUNDLE, {"monthly-fee": 0}, 2)
    with pytest.raises(ValueError, match="one non-negative percent or amount"):
        price_lines(PRODUCTS, VOICE_BUNDLE, {"monthly-fee": 1}, 2, [CouponTerms("X", D(1), D(1))])


def test_several_coupons_apply_in_the_order_given_each_on_the_list_price() -> None:
    coupons = [CouponTerms("HALF", D("50"), None), CouponTerms("ONE", None, D("1"))]
    (line,) = price_lines(PRODUCTS, VOICE_BUNDLE, {"monthly-fee": 1}, 2, coupons)
    # 9.99: the offer's 1.00 off, then 50 % of the list price (4.995 -> 5.00), then 1.00: 2.99
    assert line.discounts == (
        ("offer", "loyal", D("1.00")),
        ("coupon", "HALF", D("5.00")),
        ("coupon", "ONE", D("1.00")),
    )
    assert line.price == D("2.99")


NAMES = ("a", "b", "c", "d")


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[dict[str, Product], Offer, dict[str, int], int, CouponTerms | None]:
    names = NAMES[: draw(st.integers(1, len(NAMES)))]
    products = {n: Product(n, draw(st.integers(0, 10**10))) for n in names}
    discounts = []
    for i in range(draw(st.integers(0, 4))):
        targets = tuple(draw(st.lists(st.sampled_from(names), unique=True, max_size=2)))
        if draw(st.booleans()):
            percent = D(draw(st.integers(1, 10_000))).scaleb(-2)  # 0.01 .. 100.00
            discounts.append(Discount(f"d{i}", percent, None, targets))
        else:
            discounts.append(Discount(f"d{i}", None, draw(st.integers(1, 10**9)), targets))
    offer = Offer("o", tuple(OfferItem(n) for n in names), tuple(discounts))
    bought = draw(st.lists(st.sampled_from(names), unique=True))
    chosen = {n: draw(st.integers(1, 1_000_000)) for n in bought}
    decimals = draw(st.integers(0, 6))
    coupon = draw(
        st.one_of(
            st.none(),
            st.builds(
                CouponTerms,
                st.just("C"),
                st.decimals(0, 150, places=3),
                st.none(),
            ),
            st.builds(
                CouponTerms,
                st.just("C"),
                st.none(),
                st.decimals(0, 10**6, places=6),
            ),
        )
    )
    return products, offer, chosen, decimals, coupon


@given(cases())
def test_lines_are_exact_and_never_negative(
    case: tuple[dict[str, Product], Offer, dict[str, int], int, CouponTerms | None],
) -> None:
    products, offer, chosen, decimals, coupon = case
    lines = price_lines(products, offer, chosen, decimals, [coupon] if coupon else [])
    assert [line.product for line in lines] == [
        i.product for i in offer.items if i.product in chosen
    ]
    for line in lines:
        amounts = [amount for _, _, amount in line.discounts]
        for value in (line.list_price, line.price, *amounts):
            exponent = value.as_tuple().exponent
            assert isinstance(exponent, int)
            assert -exponent <= decimals
        assert line.price >= 0
        assert all(amount > 0 for amount in amounts)
        assert line.price + sum(amounts) == line.list_price
        assert line.quantity == chosen[line.product]


# -- one function: buying q at once == changing a purchase's quantity to q -----------------


@st.composite
def coupon_sets(draw: st.DrawFn) -> list[CouponTerms]:
    """Up to three coupons of distinct codes, each a percent or an amount off."""
    coupons = []
    for i in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            coupons.append(CouponTerms(f"P{i}", draw(st.decimals(0, 100, places=2)), None))
        else:
            coupons.append(CouponTerms(f"A{i}", None, draw(st.decimals(0, 10**4, places=6))))
    return coupons


@given(cases(), coupon_sets(), st.integers(1, 1_000_000), st.booleans())
def test_changing_the_quantity_prices_as_buying_it_at_once(
    case: tuple[dict[str, Product], Offer, dict[str, int], int, CouponTerms | None],
    coupons: list[CouponTerms],
    quantity: int,
    voucher: bool,
) -> None:
    products, offer, chosen, decimals, _ = case
    code = "V1" if voucher else None
    bought = price_lines(products, offer, chosen, decimals, coupons, code)
    at_once = price_lines(products, offer, dict.fromkeys(chosen, quantity), decimals, coupons, code)
    for first, direct in zip(bought, at_once, strict=True):
        kept = [term.to_json() for term in first.terms]  # as the purchase row keeps them
        changed = price_line(
            first.product, first.unit_price, quantity, terms_from_json(kept), decimals
        )
        assert changed == direct
        assert changed.list_price - changed.price == sum(
            (amount for _, _, amount in changed.discounts), D(0)
        )
        assert changed.discount == changed.list_price - changed.price
        if voucher:
            assert changed.price == 0


def test_a_fixed_coupon_does_not_scale_with_the_quantity() -> None:
    """The bug this rule replaced: 2 -> 3 units scaled a 2.00 coupon to 3.00."""
    coupon = CouponTerms("TWO", None, D("2.00"))
    (two,) = price_lines(PRODUCTS, VOICE_BUNDLE, {"monthly-fee": 2}, 2, [coupon])
    changed = price_line(two.product, two.unit_price, 3, two.terms, 2)
    assert changed.discounts == (("offer", "loyal", D("1.00")), ("coupon", "TWO", D("2.00")))
    assert (changed.list_price, changed.price) == (D("29.97"), D("26.97"))


def test_a_discount_term_needs_one_non_negative_percent_or_amount() -> None:
    for percent, amount in ((None, None), (D(1), D(1)), (D(-1), None), (None, D(-1))):
        with pytest.raises(ValueError, match="one non-negative percent or amount"):
            DiscountTerm("coupon", "X", percent, amount)
    with pytest.raises(ValueError, match="at least 1"):
        price_line("p", D(1), 0, (), 2)
