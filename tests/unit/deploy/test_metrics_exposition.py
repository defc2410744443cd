"""Every process's /metrics passes `promtool check metrics` (Prometheus' naming and unit lint).

Each process is built (its constructor registers its metrics; nothing is opened), every metric
gets one sample so its label names are in the text too, and the exposition prometheus_client
serves on /metrics (`generate_latest`) goes to promtool, which must have nothing to say.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from admin_api.app import AdminProcess
from billing_batch.app import BatchApp
from engine.app import App
from tarif_common.lifecycle import Process
from tarif_common.settings import Settings
from tests import promtool

# Every long-running process; each makes its metrics in its registry when it is built.
PROCESSES: dict[str, Callable[[Settings, CollectorRegistry], Process]] = {
    "engine": lambda s, r: App(s, registry=r),
    "batch": lambda s, r: BatchApp(s, registry=r),
    "admin": lambda s, r: AdminProcess(s, registry=r),
}


class Recording(CollectorRegistry):
    """A registry that keeps the metric objects, to give each one a sample."""

    def __init__(self) -> None:
        super().__init__()
        self.metrics: list[MetricWrapperBase] = []

    def register(self, collector: Collector) -> None:
        super().register(collector)
        if isinstance(collector, MetricWrapperBase):
            self.metrics.append(collector)


def sample(metric: MetricWrapperBase) -> None:
    """One sample on every label (label names appear in the text only with a sample)."""
    labelnames: tuple[str, ...] = metric._labelnames  # no public reader
    one = metric.labels(*("example" for _ in labelnames)) if labelnames else metric
    if isinstance(one, Counter):
        one.inc()
    elif isinstance(one, Gauge):
        one.set(1)
    elif isinstance(one, Histogram):
        one.observe(0.004)
    else:
        raise AssertionError(f"no sample for {type(one).__name__} {metric}: add it here")


def exposition(name: str) -> bytes:
    registry = Recording()
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    PROCESSES[name](settings, registry)
    for metric in registry.metrics:
        sample(metric)
    return generate_latest(registry)


def every_process() -> set[type[Process]]:
    found, todo = set(), list(Process.__subclasses__())
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_the_list_names_every_process() -> None:
    settings = Settings(redis_url="redis://unused", database_url="postgresql://unused")
    built = {type(make(settings, CollectorRegistry())) for make in PROCESSES.values()}
    assert built == every_process()


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_the_exposition_passes_promtool(name: str) -> None:
    text = exposition(name)
    assert promtool.lint_metrics(text) == "", text.decode()


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_every_process_exports_metrics(name: str) -> None:
    text = exposition(name).decode()
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert families, name
    assert all(f.startswith("tarif_") for f in families), families


def test_promtool_rejects_what_the_conventions_forbid() -> None:
    registry = CollectorRegistry()
    Gauge("tarif_bad_total", "A gauge named as a counter.", registry=registry).set(1)
    latency = Histogram("tarif_bad_milliseconds", "Not seconds.", ["rpcName"], registry=registry)
    latency.labels("ChargeEvent").observe(4)
    said = promtool.lint_metrics(generate_latest(registry))
    assert 'tarif_bad_total non-counter metrics should not have "_total" suffix' in said
    assert 'tarif_bad_milliseconds use base unit "seconds" instead of "milliseconds"' in said
    assert "label names should be written in 'snake_case' not 'camelCase'" in said
