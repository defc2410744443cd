"""Every invalid catalog is refused with the path of the offending value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tarif_catalog import parse_catalog
from tarif_common.errors import CatalogError

from .catalogs import EXAMPLE_YAML, example_doc

Doc = dict[str, Any]


def _voice_rate(i: int, **changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["tariffs"]["voice-std"]["rates"][i].update(changes)

    return mutate


def _data_tiers(tiers: list[dict[str, Any]]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["tariffs"]["data-std"]["rates"][0]["tiers"] = tiers

    return mutate


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    *parents, last = path.split(".")

    def mutate(doc: Doc) -> None:
        target = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


def _delete(path: str) -> Callable[[Doc], None]:
    *parents, last = path.split(".")

    def mutate(doc: Doc) -> None:
        target = doc
        for key in parents:
            target = target[key]
        del target[last]

    return mutate


def _data_rate(**changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["tariffs"]["data-std"]["rates"][0].update(changes)

    return mutate


def _drop_voice_price(doc: Doc) -> None:
    del doc["tariffs"]["voice-std"]["rates"][0]["price"]


def _int_plan_key(doc: Doc) -> None:
    doc["plans"][1] = {"tariffs": {}}


def _append_voice_rate(rate: dict[str, Any]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc["tariffs"]["voice-std"]["rates"].append(rate)

    return mutate


def _empty_prefixes(doc: Doc) -> None:
    rate = doc["tariffs"]["voice-std"]["rates"][0]
    del rate["prefix"]
    rate["prefixes"] = []


V0 = "tariffs.voice-std.rates[0]"
TIERS = "tariffs.data-std.rates[0].tiers"
CASES: list[tuple[str, Callable[[Doc], None], str, str]] = [
    # money
    ("float money", _voice_rate(0, price=0.12), f"{V0}.price", "quote it"),
    ("float fee", _voice_rate(0, connect_fee=0.5), f"{V0}.connect_fee", "float"),
    ("too precise", _voice_rate(0, price="0.1234567"), f"{V0}.price", "6 decimal places"),
    ("negative", _voice_rate(0, price="-0.01"), f"{V0}.price", "negative"),
    ("exponent", _voice_rate(0, price="1e3"), f"{V0}.price", "not a decimal"),
    ("bool money", _voice_rate(0, price=True), f"{V0}.price", "boolean"),
    ("money decimals", _set("resources.EUR.decimals", 7), "resources.EUR.decimals", "between"),
    ("bad currency", _set("resources.EUR.currency", "euro"), "resources.EUR.currency", "ISO"),
    # unknown and missing keys
    ("unknown rate key", _voice_rate(0, prise="1"), f"{V0}.prise", "unknown key"),
    ("unknown top key", _set("currency", "EUR"), "currency", "unknown key"),
    ("unit key on money", _set("resources.EUR.unit", "x"), "resources.EUR.unit", "unknown key"),
    ("missing tariffs", _delete("tariffs"), "tariffs", "missing"),
    ("missing kind", _delete("resources.EUR.kind"), "resources.EUR.kind", "missing"),
    ("bad kind", _set("resources.EUR.kind", "credit"), "resources.EUR.kind", "'credit'"),
    ("bad order", _set("resources.EUR.order", "fifo"), "resources.EUR.order", "'fifo'"),
    # rates
    ("price and tiers", _voice_rate(0, tiers=[{"price": "1"}]), V0, "either price"),
    ("missing rates", _delete("tariffs.voice-std.rates"), "tariffs.voice-std.rates", "missing"),
    ("neither price nor tiers", _drop_voice_price, V0, "either price"),
    ("int prefix", _voice_rate(0, prefix=39), f"{V0}.prefix", "quoted"),
    ("control in prefix", _voice_rate(0, prefix="39\n"), f"{V0}.prefix", "printable"),
    ("long prefix", _voice_rate(0, prefix="3" * 65), f"{V0}.prefix", "64"),
    ("only 00", _voice_rate(0, prefix="00"), f"{V0}.prefix", "empty once normalised"),
    ("zero increment", _voice_rate(0, increment=[0, 60]), f"{V0}.increment[0]", ">= 1"),
    ("one increment", _voice_rate(0, increment=[60]), f"{V0}.increment", "[first, next]"),
    ("zero per", _voice_rate(0, per=0), f"{V0}.per", "between 1 and"),
    ("prefix and prefixes", _voice_rate(0, prefixes=["1"]), V0, "either prefix or prefixes"),
    ("no prefixes", _empty_prefixes, f"{V0}.prefixes", "at least one prefix"),
    (
        "same prefix twice once normalised",
        _append_voice_rate({"prefixes": ["+44", "0044"], "price": "1"}),
        "tariffs.voice-std.rates[3].prefixes[1]",
        "listed twice",
    ),
    (
        "prefix normalised onto another rate's",
        _append_voice_rate({"prefix": "+39", "price": "1"}),
        "tariffs.voice-std.rates[3]",
        "duplicate rate for prefix '39'",
    ),
    (
        "bad step list",
        _voice_rate(0, increment=[{"from": 5, "step": 1}]),
        f"{V0}.increment[0].from",
        "offset 0",
    ),
    (
        "step not on a boundary",
        _voice_rate(0, increment=[{"from": 0, "step": 60}, {"from": 90, "step": 1}]),
        f"{V0}.increment[1].from",
        "multiple of its step 60",
    ),
    (
        "cap action alone",
        _voice_rate(0, max_cost_action="free"),
        f"{V0}.max_cost_action",
        "needs max_cost",
    ),
    (
        "bad cap action",
        _voice_rate(0, max_cost="1", max_cost_action="hang"),
        f"{V0}.max_cost_action",
        "free, disconnect",
    ),
    ("float cap", _voice_rate(0, max_cost=1.5), f"{V0}.max_cost", "quoted"),
    (
        "bad rounding method",
        _set("tariffs.voice-std.rounding", {"method": "nearest"}),
        "tariffs.voice-std.rounding.method",
        "'nearest' is not one of up, half_up, half_even, down",
    ),
    (
        "rounding decimals",
        _set("tariffs.voice-std.rounding", {"decimals": 7}),
        "tariffs.voice-std.rounding.decimals",
        "between 0 and 6",
    ),
    (
        "bad bands mode",
        _set("tariffs.voice-std.bands", "first"),
        "tariffs.voice-std.bands",
        "split, start",
    ),
    (
        "per values without a small common multiple",
        _append_voice_rate({"prefix": "7", "price": "1", "per": 9_999_991}),
        "tariffs.voice-std.rates",
        "least common multiple",
    ),
    ("float per", _voice_rate(0, per=60.0), f"{V0}.per", "integer"),
    ("no rates", _set("tariffs.voice-std.rates", []), "tariffs.voice-std.rates", "at least"),
    (
        "duplicate rate",
        _append_voice_rate({"prefix": "39", "price": "1"}),
        "tariffs.voice-std.rates[3]",
        "duplicate rate for prefix '39' and band None (same as rates[0])",
    ),
    (
        "overlapping bands",
        _append_voice_rate({"prefix": "386", "band": "late", "price": "1"}),
        "tariffs.voice-std.rates[3].band",
        "overlaps band 'peak'",
    ),
    (
        "prefix without rating field",
        _data_rate(prefix="1"),
        "tariffs.data-std.rates[0].prefix",
        "no rating_field",
    ),
    # tiers
    (
        "tiers not increasing",
        _data_tiers([{"up_to": 10, "price": "1"}, {"up_to": 10, "price": "1"}, {"price": "1"}]),
        f"{TIERS}[1].up_to",
        "greater than the previous",
    ),
    ("closed last tier", _data_tiers([{"up_to": 10, "price": "1"}]), f"{TIERS}[0].up_to", "open"),
    (
        "open middle tier",
        _data_tiers([{"price": "1"}, {"price": "2"}]),
        f"{TIERS}[0].up_to",
        "only the last",
    ),
    ("no tiers", _data_tiers([]), TIERS, "at least one"),
    (
        "per beside tiers",
        _data_rate(per=2),
        "tariffs.data-std.rates[0].per",
        "inside",
    ),
    # references
    (
        "unknown currency",
        _set("tariffs.voice-std.currency", "USD"),
        "tariffs.voice-std.currency",
        "money resource",
    ),
    (
        "unit as currency",
        _set("tariffs.voice-std.currency", "sms_count"),
        "tariffs.voice-std.currency",
        "money resource",
    ),
    (
        "unknown service",
        _set("tariffs.voice-std.service", "video"),
        "tariffs.voice-std.service",
        "'video'",
    ),
    (
        "unknown band",
        _voice_rate(1, band="offpeak"),
        "tariffs.voice-std.rates[1].band",
        "'offpeak'",
    ),
    (
        "unknown plan tariff",
        _set("plans.basic.tariffs.voice", "voice-x"),
        "plans.basic.tariffs.voice",
        "'voice-x'",
    ),
    (
        "plan service mismatch",
        _set("plans.basic.tariffs.voice", "data-std"),
        "plans.basic.tariffs.voice",
        "rates 'data'",
    ),
    (
        "plan unknown service",
        _set("plans.basic.tariffs.video", "data-std"),
        "plans.basic.tariffs.video",
        "unknown service",
    ),
    (
        "unknown free resource",
        _set("service_types.voice.free_resources", ["minutes"]),
        "service_types.voice.free_resources[0]",
        "unknown resource",
    ),
    (
        "free resource of another unit",
        _set("service_types.voice.free_resources", ["data_bytes"]),
        "service_types.voice.free_resources[0]",
        "unit 'second'",
    ),
    (
        "money as free resource",
        _set("service_types.voice.free_resources", ["voice_seconds", "EUR"]),
        "service_types.voice.free_resources[1]",
        "money resource",
    ),
    (
        "rating field not declared",
        _set("service_types.voice.mandatory", []),
        "service_types.voice.rating_field",
        "mandatory or optional",
    ),
    (
        "field both mandatory and optional",
        _set("service_types.voice.optional", ["destination"]),
        "service_types.voice.optional[0]",
        "also mandatory",
    ),
    (
        "duplicate field",
        _set("service_types.sms.mandatory", ["destination"] * 2),
        "service_types.sms.mandatory[1]",
        "twice",
    ),
    # time zone and bands
    ("bad timezone", _set("timezone", "Europe/Atlantis"), "timezone", "unknown time zone"),
    ("path timezone", _set("timezone", "../etc/passwd"), "timezone", "unknown time zone"),
    ("unquoted time", _set("time_bands.peak.from", 480), "time_bands.peak.from", "quote"),
    ("bad time", _set("time_bands.peak.from", "8:00"), "time_bands.peak.from", "HH:MM"),
    ("24:00 start", _set("time_bands.peak.from", "24:00"), "time_bands.peak.from", "valid time"),
    ("25:00 end", _set("time_bands.peak.to", "25:00"), "time_bands.peak.to", "valid time"),
    ("bad day", _set("time_bands.peak.days", ["monday"]), "time_bands.peak.days[0]", "'monday'"),
    ("no days", _set("time_bands.peak.days", []), "time_bands.peak.days", "at least one"),
    (
        "bad date",
        _set("time_bands.peak.dates", ["2026-02-30"]),
        "time_bands.peak.dates[0]",
        "YYYY-MM-DD",
    ),
    (
        "bad month",
        _set("time_bands.peak.months", ["dec", 13]),
        "time_bands.peak.months[1]",
        "between 1 and 12",
    ),
    (
        "bad day of month",
        _set("time_bands.peak.days_of_month", [0]),
        "time_bands.peak.days_of_month[0]",
        "between 1 and 31",
    ),
    (
        "band zone",
        _set("time_bands.peak.timezone", "Mars/Olympus"),
        "time_bands.peak.timezone",
        "IANA",
    ),
    (
        "band priority",
        _set("time_bands.peak.priority", -1),
        "time_bands.peak.priority",
        "between 0",
    ),
    # names and shapes
    ("bad name", _set("tariffs.voice std", {}), "tariffs.voice std", "not a valid name"),
    ("int key", _int_plan_key, "plans.1", "keys must be strings"),
    ("list for mapping", _set("plans", []), "plans", "expected a mapping"),
]


def _with_overlapping_band(doc: Doc) -> None:
    doc["time_bands"]["late"] = {"days": ["fri"], "from": "19:00", "to": "23:00"}


@pytest.mark.parametrize(
    ("mutate", "path", "reason"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_invalid_catalog_names_the_path(
    mutate: Callable[[Doc], None], path: str, reason: str
) -> None:
    doc = example_doc()
    _with_overlapping_band(doc)
    mutate(doc)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(doc)
    assert caught.value.path == path
    assert reason in caught.value.reason


def test_yaml_float_money_is_refused_with_a_hint() -> None:
    text = EXAMPLE_YAML.replace('price: "0.12"', "price: 0.12")
    with pytest.raises(CatalogError) as caught:
        parse_catalog(yaml.safe_load(text))
    assert caught.value.path == "tariffs.voice-std.rates[0].price"
    assert 'quote it (e.g. "0.12")' in caught.value.reason


def test_yaml_unquoted_time_is_refused() -> None:
    # YAML 1.1 reads 20:00 as the sexagesimal integer 1200.
    text = EXAMPLE_YAML.replace('to: "20:00"', "to: 20:00")
    with pytest.raises(CatalogError, match=r"time_bands\.peak\.to: .*1200.*quote"):
        parse_catalog(yaml.safe_load(text))


def test_root_must_be_a_mapping() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog([])  # type: ignore[arg-type]
    assert caught.value.path == "$"


def test_non_overlapping_bands_on_one_prefix_are_accepted() -> None:
    doc = example_doc()
    doc["time_bands"]["evening"] = {"days": ["mon"], "from": "20:00", "to": "08:00"}
    doc["tariffs"]["voice-std"]["rates"].append({"prefix": "386", "band": "evening", "price": "1"})
    rates = parse_catalog(doc).tariffs["voice-std"].rates
    assert "voice-std:386:evening" in {rate.id for rate in rates}
