"""Rate selection speed and memory on a catalog with 100,000 prefixes (`make bench` territory;
the 500,000-prefix figures come from `python -m loadtest.catalog_bench`)."""

from __future__ import annotations

import datetime
import gc
import random
import tracemalloc
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from loadtest.catalog_bench import document
from tarif_catalog import Catalog, CompiledCatalog, parse_catalog

PREFIXES = 100_000
LOOKUPS = 1_000
MONDAY_NOON = datetime.datetime(2024, 5, 6, 10, 0, tzinfo=datetime.UTC)


def _generated_doc(rng: random.Random) -> dict[str, Any]:
    """One voice tariff with PREFIXES distinct prefixes; one in ten also has a peak rate."""
    return document(PREFIXES, rng.randrange(2**32))


def _retained_bytes(build: Any, *args: Any) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = build(*args)
        gc.collect()
        return result, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.load
def test_price_with_100k_prefixes(
    benchmark: BenchmarkFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(20240506)
    # The document is built and dropped inside the measurement: what stays is what a loaded
    # catalog costs (including the prefix strings, which the document allocated).
    catalog: Catalog
    catalog, catalog_bytes = _retained_bytes(lambda: parse_catalog(_generated_doc(rng)))
    compiled: CompiledCatalog
    compiled, compiled_bytes = _retained_bytes(CompiledCatalog, catalog)

    prefixes = sorted(set(catalog.tariffs["voice-big"].table) - {""})
    rates = len(catalog.tariffs["voice-big"].rates)
    numbers = [
        "+" + (prefix + "".join(rng.choices("0123456789", k=12)))[:12]
        for prefix in rng.sample(prefixes, LOOKUPS)
    ]
    requests = [{"destination": number} for number in numbers]
    price = compiled.quote

    def lookups() -> None:
        for attributes in requests:
            price("big", "voice", attributes, MONDAY_NOON, 60)

    benchmark(lookups)
    assert all(price("big", "voice", r, MONDAY_NOON).rate_id != "voice-big:*" for r in requests)

    per_prefix_catalog = catalog_bytes / PREFIXES
    per_prefix_compiled = compiled_bytes / PREFIXES
    benchmark.extra_info.update(
        bytes_per_prefix_catalog=round(per_prefix_catalog),
        bytes_per_prefix_compiled=round(per_prefix_compiled),
        lookups_per_round=LOOKUPS,
    )
    line = (
        f"\nrating: {PREFIXES} prefixes ({rates} rates): catalog {per_prefix_catalog:.0f}"
        f" B/prefix, compiled {per_prefix_compiled:.0f} B/prefix"
    )
    if benchmark.stats is not None:
        per_lookup_us = benchmark.stats.stats.mean / LOOKUPS * 1e6
        benchmark.extra_info["us_per_lookup"] = round(per_lookup_us, 3)
        line += f"; quote() {per_lookup_us:.2f} us/lookup"
        assert per_lookup_us < 50
    with capsys.disabled():
        print(line)
    # the engine holds both: at most 200 bytes a prefix (docs/benchmarks.md, "Large catalogs")
    assert per_prefix_catalog + per_prefix_compiled <= 200
