"""Benchmark of large catalogs: `python -m loadtest.catalog_bench --prefixes 500000`.

Builds a voice tariff of N distinct prefixes (as operators carry: a few dozen price points over
many destinations, one prefix in ten with a peak-hour rate too, written one rate per prefix, the
heaviest form a document can take), serialises it as the JSON the engine reads from Redis, then
measures what the engine does with it:

- compile: `json.loads` + `parse_catalog` + `CompiledCatalog`, the engine's `_compile`;
- memory: bytes retained by the loaded catalog (model and compiled tables, prefix strings
  included), per prefix, measured with tracemalloc after the document is dropped;
- lookup: `CompiledCatalog.quote` for random destinations under those prefixes, for a 60 s call
  (band-less prefixes, and the banded ones, whose calls are checked for band changes), against
  the floor of a bare `dict.get` of the same prefixes.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import random
import time
import tracemalloc
from typing import Any

from tarif_catalog import CompiledCatalog, parse_catalog
from tarif_catalog.model import RateTerms

MONDAY = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=datetime.UTC)
PRICES = ["0.01", "0.02", "0.05", "0.08", "0.10", "0.12", "0.15", "0.25", "0.50", "1.00"]


def document(prefixes: int, seed: int = 20261129) -> dict[str, Any]:
    """One voice tariff with `prefixes` distinct prefixes; one in ten also has a peak rate."""
    rng = random.Random(seed)
    chosen: set[str] = set()
    while len(chosen) < prefixes:
        chosen.add(
            str(rng.randrange(1, 10)) + "".join(rng.choices("0123456789", k=rng.randint(2, 8)))
        )
    rates: list[dict[str, Any]] = [{"prefix": "", "price": "2", "per": 60}]
    for i, prefix in enumerate(sorted(chosen)):
        rates.append(
            {"prefix": prefix, "price": rng.choice(PRICES), "per": 60, "increment": [60, 60]}
        )
        if i % 10 == 0:
            rates.append({"prefix": prefix, "band": "peak", "price": "0.30", "per": 60})
    return {
        "timezone": "Europe/Paris",
        "resources": {"EUR": {"kind": "money", "currency": "EUR", "decimals": 2}},
        "service_types": {
            "voice": {"unit": "second", "rating_field": "destination", "mandatory": ["destination"]}
        },
        "time_bands": {
            "peak": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "20:00"}
        },
        "tariffs": {"voice-big": {"service": "voice", "currency": "EUR", "rates": rates}},
        "plans": {"big": {"tariffs": {"voice": "voice-big"}}},
    }


def _compile(raw: str) -> CompiledCatalog:
    return CompiledCatalog(parse_catalog(json.loads(raw)))


def run(prefixes: int, lookups: int) -> dict[str, float]:
    raw = json.dumps(document(prefixes))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    compiled = _compile(raw)
    seconds = time.perf_counter() - started
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    started = time.perf_counter()
    _compile(raw)
    untraced = time.perf_counter() - started

    table = compiled.catalog.tariffs["voice-big"].table
    rng = random.Random(7)
    sample = rng.sample(sorted(set(table) - {""}), min(lookups, len(table) - 1))
    plain = [p for p in sample if isinstance(table[p], RateTerms)]
    banded = [p for p in sample if not isinstance(table[p], RateTerms)]

    def numbers(chosen: list[str]) -> list[dict[str, str]]:
        return [
            {"destination": "+" + (p + "".join(rng.choices("0123456789", k=12)))[:12]}
            for p in chosen
        ]

    quote = compiled.quote

    def per_lookup(requests: list[dict[str, str]]) -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for attributes in requests:
                quote("big", "voice", attributes, MONDAY, 60)
            best = min(best, time.perf_counter() - started)
        return best / len(requests) * 1e6

    keys = [n["destination"][1:] for n in numbers(plain)]
    lengths = sorted({len(p) for p in table}, reverse=True)
    get = table.get

    def floor() -> float:
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for key in keys:
                for length in lengths:
                    if get(key[:length]) is not None:
                        break
            best = min(best, time.perf_counter() - started)
        return best / len(keys) * 1e6

    plain_us = per_lookup(numbers(plain))
    banded_us = per_lookup(numbers(banded))
    floor_us = floor()
    return {
        "prefixes": prefixes,
        "compile_s": round(untraced, 2),
        "compile_traced_s": round(seconds, 2),
        "bytes_per_prefix": round(retained / prefixes, 1),
        "lookup_us": round(plain_us, 2),
        "lookup_banded_us": round(banded_us, 2),
        "dict_floor_us": round(floor_us, 2),
        "lookup_over_floor": round(plain_us / floor_us, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prefixes", type=int, default=500_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(run(args.prefixes, args.lookups), indent=2))


if __name__ == "__main__":
    main()
