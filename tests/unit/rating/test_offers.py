"""Products, bundles and packs parse into exact values; every mistake names its path."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import yaml

from tarif_catalog import parse_catalog
from tarif_catalog.model import Plan
from tarif_catalog.offers import (
    FOREVER,
    Discount,
    Grant,
    Offer,
    OfferItem,
    Product,
    Validity,
)
from tarif_common.errors import CatalogError

from .catalogs import example_doc

Doc = dict[str, Any]

OFFERS_YAML = """\
products:
  monthly-fee: {price: "9.99"}
  sim-activation: {price: "5.00", charge: one_off, description: SIM card}
  voice-100min: {price: "4.00", grants: {resource: voice_seconds, amount: 6000, validity: cycle}}
  data-1gb: {price: "3.00", grants: {resource: data_bytes, amount: 1073741824, validity: {days: 30}}}
  bonus-credit: {grants: {resource: EUR, amount: "2.50", validity: forever}}
  whole-euro: {grants: {resource: EUR, amount: 3}}
  voice-line: {service: voice, price: "1.00"}
bundles:
  voice-bundle:
    products:
      - {product: monthly-fee}
      - {product: voice-100min, quantity: 2}
      - {product: sim-activation, optional: true}
    discounts:
      - {id: launch, percent: "10", products: [voice-100min]}
      - {id: loyal, amount: "1.00"}
      - {id: half, percent: 50}
packs:
  data-boost:
    products: [{product: data-1gb}]
    plans: [smart]
  any-plan:
    products: [{product: bonus-credit}]
plans:
  smart: {tariffs: {voice: voice-std}, bundles: [voice-bundle]}
"""  # noqa: E501


def offers_doc() -> Doc:
    """The rating example with the commercial sections and a `smart` plan added."""
    doc = example_doc()
    offers = yaml.safe_load(OFFERS_YAML)
    for section in ("products", "bundles", "packs"):
        doc[section] = offers[section]
    doc["plans"].update(offers["plans"])
    return doc


def test_products() -> None:
    products = parse_catalog(offers_doc()).products
    assert products["monthly-fee"] == Product("monthly-fee", 9_990_000, "recurring", None, None, "")
    assert products["sim-activation"] == Product(
        "sim-activation", 5_000_000, "one_off", None, None, "SIM card"
    )
    assert products["voice-100min"].grants == Grant("voice_seconds", 6000, Validity("cycle"))
    assert products["data-1gb"].grants == Grant("data_bytes", 1 << 30, Validity("days", 30))
    # money grants are in the resource's minor unit: EUR has 2 decimals
    assert products["bonus-credit"] == Product(
        "bonus-credit", 0, "recurring", Grant("EUR", 250, Validity("forever")), None, ""
    )
    assert products["whole-euro"].grants == Grant("EUR", 300, FOREVER)
    assert products["voice-line"] == Product("voice-line", 1_000_000, "recurring", None, "voice")


def test_bundles_packs_and_plans() -> None:
    catalog = parse_catalog(offers_doc())
    assert catalog.bundles["voice-bundle"] == Offer(
        "voice-bundle",
        (
            OfferItem("monthly-fee", 1, False),
            OfferItem("voice-100min", 2, False),
            OfferItem("sim-activation", 1, True),
        ),
        (
            Discount("launch", Decimal("10"), None, ("voice-100min",)),
            Discount("loyal", None, 1_000_000, ()),
            Discount("half", Decimal(50), None, ()),
        ),
        (),
    )
    assert catalog.packs["data-boost"] == Offer(
        "data-boost", (OfferItem("data-1gb", 1, False),), (), ("smart",)
    )
    assert catalog.packs["any-plan"].plans == ()
    assert catalog.plans["smart"] == Plan(
        "smart", catalog.plans["smart"].tariffs, ("voice-bundle",)
    )
    assert dict(catalog.plans["smart"].tariffs) == {"voice": "voice-std"}
    assert catalog.plans["basic"].bundles == ()


def test_sections_are_optional_and_read_only() -> None:
    catalog = parse_catalog(example_doc())
    assert (dict(catalog.products), dict(catalog.bundles), dict(catalog.packs)) == ({}, {}, {})
    full = parse_catalog(offers_doc())
    with pytest.raises(TypeError):
        full.products["x"] = full.products["monthly-fee"]  # type: ignore[index]


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """Set the value at a dotted path; a numeric part indexes a list."""
    *parents, last = path.split(".")

    def mutate(doc: Doc) -> None:
        target: Any = doc
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        if last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


def _drop(path: str) -> Callable[[Doc], None]:
    *parents, last = path.split(".")

    def mutate(doc: Doc) -> None:
        target: Any = doc
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[last]

    return mutate


VB = "bundles.voice-bundle"
CASES: list[tuple[str, Callable[[Doc], None], str, str]] = [
    (
        "unknown product in a bundle",
        _set(f"{VB}.products.0.product", "monthly-fees"),
        f"{VB}.products[0].product",
        "unknown product 'monthly-fees'",
    ),
    (
        "repeated item",
        _set(f"{VB}.products.2", {"product": "monthly-fee"}),
        f"{VB}.products[2].product",
        "'monthly-fee' is already products[0]",
    ),
    ("no items", _set(f"{VB}.products", []), f"{VB}.products", "at least one product"),
    ("zero quantity", _set(f"{VB}.products.1.quantity", 0), f"{VB}.products[1].quantity", "1"),
    (
        "optional not a bool",
        _set(f"{VB}.products.2.optional", "yes"),
        f"{VB}.products[2].optional",
        "true or false",
    ),
    (
        "float price",
        _set("products.monthly-fee.price", 9.99),
        "products.monthly-fee.price",
        "quote",
    ),
    (
        "bad charge",
        _set("products.monthly-fee.charge", "monthly"),
        "products.monthly-fee.charge",
        "recurring or one_off",
    ),
    (
        "percent and amount",
        _set(f"{VB}.discounts.0.amount", "1.00"),
        f"{VB}.discounts[0]",
        "either percent or amount",
    ),
    (
        "neither percent nor amount",
        _drop(f"{VB}.discounts.1.amount"),
        f"{VB}.discounts[1]",
        "either percent or amount",
    ),
    (
        "percent over 100",
        _set(f"{VB}.discounts.0.percent", "100.01"),
        f"{VB}.discounts[0].percent",
        "at most 100",
    ),
    ("zero percent", _set(f"{VB}.discounts.0.percent", "0"), f"{VB}.discounts[0].percent", "more"),
    (
        "percent with 3 decimals",
        _set(f"{VB}.discounts.0.percent", "12.345"),
        f"{VB}.discounts[0].percent",
        "at most 2 decimals",
    ),
    (
        "float percent",
        _set(f"{VB}.discounts.0.percent", 12.5),
        f"{VB}.discounts[0].percent",
        "quote",
    ),
    (
        "discount on a product outside the offer",
        _set(f"{VB}.discounts.0.products", ["data-1gb"]),
        f"{VB}.discounts[0].products[0]",
        "'data-1gb' is not a product of this offer",
    ),
    (
        "repeated discount id",
        _set(f"{VB}.discounts.1.id", "launch"),
        f"{VB}.discounts[1].id",
        "'launch' repeats",
    ),
    (
        "plans on a bundle",
        _set(f"{VB}.plans", ["smart"]),
        f"{VB}.plans",
        "unknown key",
    ),
    (
        "plan naming an unknown bundle",
        _set("plans.smart.bundles", ["voice-bundle", "data-bundle"]),
        "plans.smart.bundles[1]",
        "unknown bundle 'data-bundle'",
    ),
    (
        "plan naming a bundle twice",
        _set("plans.smart.bundles", ["voice-bundle", "voice-bundle"]),
        "plans.smart.bundles[1]",
        "twice",
    ),
    (
        "pack naming an unknown plan",
        _set("packs.data-boost.plans", ["smart", "gold"]),
        "packs.data-boost.plans[1]",
        "unknown plan 'gold'",
    ),
    (
        "grant of an unknown resource",
        _set("products.voice-100min.grants.resource", "sms"),
        "products.voice-100min.grants.resource",
        "unknown resource 'sms'",
    ),
    (
        "money grant with too many decimals",
        _set("products.bonus-credit.grants.amount", "2.505"),
        "products.bonus-credit.grants.amount",
        "EUR has 2 decimals",
    ),
    (
        "unit grant as a string",
        _set("products.voice-100min.grants.amount", "6000"),
        "products.voice-100min.grants.amount",
        "expected an integer, got a string",
    ),
    (
        "zero unit grant",
        _set("products.voice-100min.grants.amount", 0),
        "products.voice-100min.grants.amount",
        ">= 1",
    ),
    (
        "bad validity",
        _set("products.voice-100min.grants.validity", "month"),
        "products.voice-100min.grants.validity",
        "cycle, forever or {days: N}",
    ),
    (
        "too many validity days",
        _set("products.data-1gb.grants.validity", {"days": 3661}),
        "products.data-1gb.grants.validity.days",
        "between 1 and 3660",
    ),
    (
        "unknown product key",
        _set("products.monthly-fee.prize", "1"),
        "products.monthly-fee.prize",
        "unknown key",
    ),
    (
        "unknown discount key",
        _set(f"{VB}.discounts.1.percnt", "5"),
        f"{VB}.discounts[1].percnt",
        "unknown key",
    ),
    (
        "service product with an unknown service type",
        _set("products.voice-line.service", "video"),
        "products.voice-line.service",
        "unknown service type 'video'",
    ),
    ("bad product name", _set("products.monthly fee", {}), "products.monthly fee", "valid name"),
]


@pytest.mark.parametrize(
    ("mutate", "path", "reason"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_invalid_offers_name_the_path(
    mutate: Callable[[Doc], None], path: str, reason: str
) -> None:
    doc = offers_doc()
    mutate(doc)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(doc)
    assert caught.value.path == path
    assert reason in caught.value.reason
