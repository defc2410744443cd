"""The engine's catalog version gauge follows the catalog it rates with, not only start-up's."""

from __future__ import annotations

from tests.integration.harness import Engine, catalog


async def test_the_gauge_follows_a_new_catalog_version(engine: Engine) -> None:
    def gauge() -> float | None:
        return engine.app.registry.get_sample_value("tarif_engine_catalog_version")

    first = gauge()
    assert first is not None
    assert first == engine.app.catalog.version > 0
    await engine.provision(catalog_doc=catalog())  # a new version published and loaded
    assert engine.app.catalog.version == first + 1
    assert gauge() == first + 1
