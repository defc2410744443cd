"""The documented catalog format parses into the expected immutable values."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
import yaml

from tarif_catalog import Catalog, ConsumptionOrder, Tier, parse_catalog
from tarif_catalog.model import Rate, RateTerms
from tarif_catalog.units import Step

from .catalogs import EXAMPLE_YAML, example_doc


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_catalog(yaml.safe_load(EXAMPLE_YAML))


def test_resources(catalog: Catalog) -> None:
    eur = catalog.resources["EUR"]
    assert (eur.kind, eur.unit, eur.currency, eur.decimals) == ("money", "EUR", "EUR", 2)
    assert eur.order is ConsumptionOrder.EARLIEST_EXPIRY
    data = catalog.resources["data_bytes"]
    assert (data.kind, data.unit, data.currency, data.decimals) == ("unit", "byte", None, 0)
    assert data.order is ConsumptionOrder.PRIORITY
    assert catalog.resources["sms_count"].order is ConsumptionOrder.EARLIEST_EXPIRY  # default


def test_service_types(catalog: Catalog) -> None:
    voice = catalog.service_types["voice"]
    assert voice.rating_field == "destination"
    assert voice.mandatory == ("destination",)
    assert voice.optional == ("origin",)
    assert voice.free_resources == ("voice_seconds",)
    data = catalog.service_types["data"]
    assert (data.rating_field, data.mandatory, data.optional) == (None, (), ())


def test_time_band(catalog: Catalog) -> None:
    peak = catalog.time_bands["peak"]
    assert peak.days == frozenset(range(5))
    assert (peak.start, peak.end) == (datetime.time(8), datetime.time(20))


def test_rates_carry_money_in_micros(catalog: Catalog) -> None:
    italy, slovenia, rest = catalog.tariffs["voice-std"].rates
    per_minute = (Step(0, 60),)
    assert italy == Rate(
        "voice-std:39", "39", None, RateTerms(0, per_minute, (Tier(None, 120_000, 60),))
    )
    assert slovenia == Rate(
        "voice-std:386:peak", "386", "peak", RateTerms(0, (Step(0, 1),), (Tier(None, 50_000, 60),))
    )
    assert rest.id == "voice-std:*"
    assert rest.terms.tiers == (Tier(None, 500_000, 60),)
    assert catalog.tariffs["voice-std"].scale == 60
    assert catalog.tariffs["voice-std"].money_resource == "EUR"


def test_tiers(catalog: Catalog) -> None:
    (rate,) = catalog.tariffs["data-std"].rates
    assert rate.terms.steps == (Step(0, 1024),)
    assert rate.terms.tiers == (Tier(1 << 30, 10_000, 1 << 20), Tier(None, 5_000, 1 << 20))


def test_plans(catalog: Catalog) -> None:
    assert dict(catalog.plans["basic"].tariffs) == {"voice": "voice-std", "data": "data-std"}


def test_catalog_is_immutable(catalog: Catalog) -> None:
    with pytest.raises(TypeError):
        catalog.tariffs["x"] = catalog.tariffs["data-std"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalog.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        catalog.plans["basic"].tariffs["sms"] = "x"  # type: ignore[index]


def test_defaults_and_integer_money() -> None:
    doc = example_doc()
    doc["tariffs"]["voice-std"]["rates"] = [{"prefix": "", "price": 1, "connect_fee": "0.000001"}]
    del doc["time_bands"]
    (rate,) = parse_catalog(doc).tariffs["voice-std"].rates
    assert rate.terms.steps == (Step(0, 1),)
    assert rate.terms.tiers == (Tier(None, 1_000_000, 1),)
    assert rate.terms.connect_fee_micros == 1
    assert rate.terms.max_cost_micros is None


def test_end_of_day_and_default_days() -> None:
    doc = example_doc()
    doc["time_bands"]["evening"] = {"from": "20:00", "to": "24:00"}
    band = parse_catalog(doc).time_bands["evening"]
    assert band.days == frozenset(range(7))
    assert band.end == datetime.time(0, 0)


def test_equal_terms_are_shared_between_rates() -> None:
    doc = example_doc()
    rates: list[dict[str, object]] = [
        {"prefix": str(p), "price": "0.10", "per": 60} for p in range(100, 110)
    ]
    rates.append({"prefix": "99", "per": 60, "price": "0.10"})  # written in another order
    rates.append({"prefixes": ["98", "97"], "price": "0.10", "per": 60})
    doc["tariffs"]["voice-std"]["rates"] = rates
    parsed = parse_catalog(doc).tariffs["voice-std"].rates
    assert len(parsed) == 13
    assert all(rate.terms is parsed[0].terms for rate in parsed)


def test_the_input_document_is_not_modified() -> None:
    doc = example_doc()
    parse_catalog(doc)
    assert doc == example_doc()
