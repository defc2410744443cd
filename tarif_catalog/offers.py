"""The commercial catalog: products, bundles (with discounts) and option packs.

```yaml
products:
  monthly-fee: {price: "9.99"}                       # charge defaults to recurring
  sim-activation: {price: "5.00", charge: one_off}
  voice-100min: {price: "4.00", grants: {resource: voice_seconds, amount: 6000, validity: cycle}}
  data-1gb: {price: "3.00", grants: {resource: data_bytes, amount: 1073741824,
                                     validity: {days: 30}}}
  bonus-credit: {grants: {resource: EUR, amount: "2.50", validity: forever}}  # price "0"
  voice-line: {service: voice, price: "1.00"}        # a service product: needs identifiers
  iot-line: {service: data, invoice_on_usage: true}  # its usage invoiced as soon as charged
bundles:
  voice-bundle:
    products:
      - {product: monthly-fee}                       # quantity 1, optional false
      - {product: voice-100min, quantity: 2}
      - {product: sim-activation, optional: true}
    discounts:
      - {id: launch, percent: "10", products: [voice-100min]}  # products: default all
      - {id: loyal, amount: "1.00"}                  # off each line's price, once
    waive_connect_fee: true                          # a call that starts on its free units
                                                     # pays no connect fee (default false)
packs:                                               # bought on top of a plan
  data-boost:
    products: [{product: data-1gb}]
    plans: [smart]                                   # absent or empty: any plan
```
Any product may carry a `description`. A grant's `amount` is an integer for unit resources and a
decimal string (at most the resource's decimals) for money; `validity` defaults to `forever`.
`invoice_on_usage: true` (default false) marks a service product whose lines' usage is invoiced
as soon as it is charged, by the usage_invoicing job, on a bill of its own
(docs/jobs-invoicing.md); it needs `service`.
Plans name the bundles they include with `bundles: [voice-bundle]` (see `tarif_catalog.parse`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any, Literal

from tarif_catalog import _fields as f
from tarif_catalog.commercial import (
    FOREVER as FOREVER,
)
from tarif_catalog.commercial import (
    MAX_QUANTITY as MAX_QUANTITY,
)
from tarif_catalog.commercial import (
    MAX_VALIDITY_DAYS as MAX_VALIDITY_DAYS,
)
from tarif_catalog.commercial import (
    Charge as Charge,
)
from tarif_catalog.commercial import (  # the types, re-exported: `offers` parses them
    Discount as Discount,
)
from tarif_catalog.commercial import (
    Grant as Grant,
)
from tarif_catalog.commercial import (
    Offer as Offer,
)
from tarif_catalog.commercial import (
    OfferItem as OfferItem,
)
from tarif_catalog.commercial import (
    Product as Product,
)
from tarif_catalog.commercial import (
    Validity as Validity,
)
from tarif_catalog.commercial import (
    ValidityKind as ValidityKind,
)
from tarif_catalog.model import MICROS_PER_UNIT, Resource, ServiceType
from tarif_common.errors import CatalogError

_PERCENT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")


def parse_products(
    value: Any, resources: Mapping[str, Resource], service_types: Mapping[str, ServiceType]
) -> dict[str, Product]:
    """The `products` section; grants and services must name catalog objects."""
    products = {}
    for key, raw in f.mapping(value, "products").items():
        path = f.at("products", key)
        products[key] = _product(f.key_name(key, "products"), raw, path, resources, service_types)
    return products


def parse_offers(
    value: Any,
    section: Literal["bundles", "packs"],
    products: Mapping[str, Product],
    plans: Collection[str] | None = None,
) -> dict[str, Offer]:
    """The `bundles` or `packs` section.

    `plans` is the set of plan names, given for packs only: bundles refuse the `plans` key (a
    bundle is attached by the plan itself), so packs are parsed after the plans.
    """
    offers = {}
    for key, raw in f.mapping(value, section).items():
        path = f.at(section, key)
        offers[key] = _offer(f.key_name(key, section), raw, path, products, plans)
    return offers


def _product(
    name: str,
    value: Any,
    path: str,
    resources: Mapping[str, Resource],
    service_types: Mapping[str, ServiceType],
) -> Product:
    m = f.mapping(value, path)
    f.keys(
        m,
        path,
        (),
        ("price", "charge", "billed", "grants", "service", "description", "invoice_on_usage"),
    )
    price = f.money_micros(m.get("price", "0"), f.at(path, "price"))
    charge = m.get("charge", "recurring")
    if charge not in ("recurring", "one_off"):
        raise CatalogError(
            f.at(path, "charge"), f"must be recurring or one_off, got {f.describe(charge)}"
        )
    billed = m.get("billed", "advance")
    if billed not in ("advance", "arrears"):
        raise CatalogError(
            f.at(path, "billed"), f"must be advance or arrears, got {f.describe(billed)}"
        )
    grant = None
    if "grants" in m:
        grant = _grant(m["grants"], f.at(path, "grants"), resources)
    service = None
    if "service" in m:
        service = f.name(m["service"], f.at(path, "service"))
        if service not in service_types:
            raise CatalogError(f.at(path, "service"), f"unknown service type {service!r}")
    description = m.get("description", "")
    if not isinstance(description, str):
        raise CatalogError(
            f.at(path, "description"), f"expected a string, got {f.describe(description)}"
        )
    on_usage = m.get("invoice_on_usage", False)
    if not isinstance(on_usage, bool):
        raise CatalogError(
            f.at(path, "invoice_on_usage"), f"expected true or false, got {f.describe(on_usage)}"
        )
    if on_usage and service is None:
        raise CatalogError(
            f.at(path, "invoice_on_usage"),
            "only a service product's usage can be invoiced as it comes: give `service`",
        )
    return Product(name, price, charge, grant, service, description, billed, on_usage)


def _grant(value: Any, path: str, resources: Mapping[str, Resource]) -> Grant:
    m = f.mapping(value, path)
    f.keys(m, path, ("resource", "amount"), ("validity",))
    resource_name = f.name(m["resource"], f.at(path, "resource"))
    resource = resources.get(resource_name)
    if resource is None:
        raise CatalogError(f.at(path, "resource"), f"unknown resource {resource_name!r}")
    amount_path = f.at(path, "amount")
    if resource.kind == "money":
        micros = f.money_micros(m["amount"], amount_path)
        scale = MICROS_PER_UNIT // 10**resource.decimals
        if micros % scale:
            raise CatalogError(
                amount_path, f"{resource_name} has {resource.decimals} decimals, got more"
            )
        amount = micros // scale
        if amount == 0:
            raise CatalogError(amount_path, "must be more than 0")
    else:
        amount = f.integer(m["amount"], amount_path, 1)
    validity = FOREVER
    if "validity" in m:
        validity = _validity(m["validity"], f.at(path, "validity"))
    return Grant(resource_name, amount, validity)


def _validity(value: Any, path: str) -> Validity:
    if value in ("cycle", "forever"):
        return Validity(value)
    if not isinstance(value, Mapping):
        raise CatalogError(path, f"expected cycle, forever or {{days: N}}, got {f.describe(value)}")
    m = f.mapping(value, path)
    f.keys(m, path, ("days",), ())
    return Validity("days", f.integer(m["days"], f.at(path, "days"), 1, MAX_VALIDITY_DAYS))


def _offer(
    name: str,
    value: Any,
    path: str,
    products: Mapping[str, Product],
    plans: Collection[str] | None,
) -> Offer:
    m = f.mapping(value, path)
    optional = ("discounts", "waive_connect_fee") + (() if plans is None else ("plans",))
    f.keys(m, path, ("products",), optional)
    waive = m.get("waive_connect_fee", False)
    if not isinstance(waive, bool):
        raise CatalogError(
            f.at(path, "waive_connect_fee"), f"expected true or false, got {f.describe(waive)}"
        )
    items_path = f.at(path, "products")
    raw_items = f.sequence(m["products"], items_path)
    if not raw_items:
        raise CatalogError(items_path, "an offer needs at least one product")
    items: list[OfferItem] = []
    for i, raw in enumerate(raw_items):
        item = _item(raw, f.at(items_path, i), products)
        for j, earlier in enumerate(items):
            if earlier.product == item.product:
                raise CatalogError(
                    f.at(f.at(items_path, i), "product"),
                    f"{item.product!r} is already products[{j}]; use quantity",
                )
        items.append(item)
    in_offer = {item.product for item in items}
    discounts_path = f.at(path, "discounts")
    discounts: list[Discount] = []
    for i, raw in enumerate(f.sequence(m.get("discounts", []), discounts_path)):
        discount = _discount(raw, f.at(discounts_path, i), in_offer)
        if any(d.id == discount.id for d in discounts):
            raise CatalogError(f.at(f.at(discounts_path, i), "id"), f"id {discount.id!r} repeats")
        discounts.append(discount)
    plans_path = f.at(path, "plans")
    offer_plans = f.names(m.get("plans", []), plans_path)
    for i, plan in enumerate(offer_plans):
        if plans is not None and plan not in plans:
            raise CatalogError(f.at(plans_path, i), f"unknown plan {plan!r}")
    return Offer(name, tuple(items), tuple(discounts), offer_plans, waive)


def _item(value: Any, path: str, products: Mapping[str, Product]) -> OfferItem:
    m = f.mapping(value, path)
    f.keys(m, path, ("product",), ("quantity", "optional"))
    product = f.name(m["product"], f.at(path, "product"))
    if product not in products:
        raise CatalogError(f.at(path, "product"), f"unknown product {product!r}")
    quantity = f.integer(m.get("quantity", 1), f.at(path, "quantity"), 1, MAX_QUANTITY)
    optional = m.get("optional", False)
    if not isinstance(optional, bool):
        raise CatalogError(
            f.at(path, "optional"), f"expected true or false, got {f.describe(optional)}"
        )
    return OfferItem(product, quantity, optional)


def _discount(value: Any, path: str, in_offer: Collection[str]) -> Discount:
    m = f.mapping(value, path)
    f.keys(m, path, ("id",), ("percent", "amount", "products"))
    discount_id = f.name(m["id"], f.at(path, "id"))
    if ("percent" in m) == ("amount" in m):
        raise CatalogError(path, "give either percent or amount")
    percent = amount = None
    if "percent" in m:
        percent = _percent(m["percent"], f.at(path, "percent"))
    else:
        amount = f.money_micros(m["amount"], f.at(path, "amount"))
        if amount == 0:
            raise CatalogError(f.at(path, "amount"), "must be more than 0")
    products_path = f.at(path, "products")
    products = f.names(m.get("products", []), products_path)
    for i, product in enumerate(products):
        if product not in in_offer:
            raise CatalogError(
                f.at(products_path, i), f"{product!r} is not a product of this offer"
            )
    return Discount(discount_id, percent, amount, products)


def _percent(value: Any, path: str) -> Decimal:
    """A percentage above 0 and up to 100 with at most 2 decimals, as a string or an integer."""
    if isinstance(value, float):
        raise CatalogError(path, f'a percent must be a quoted decimal string; quote it ("{value}")')
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CatalogError(path, f"expected a decimal string, got {f.describe(value)}")
    if isinstance(value, str) and not _PERCENT.fullmatch(value):
        raise CatalogError(path, f'{value!r} is not a percent like "12.5" (at most 2 decimals)')
    percent = Decimal(value)
    if not 0 < percent <= 100:
        raise CatalogError(path, f"must be more than 0 and at most 100, got {value!r}")
    return percent
