"""Prometheus metrics of the engine, on a registry injected by the app (tests stay isolated)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Charging answers in a few milliseconds; buckets resolve the sub-millisecond range.
_LATENCY_BUCKETS = (
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
    1.0,
)


class EngineMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "tarif_engine_requests",
            "gRPC requests by method and result (result code, or the gRPC status on errors).",
            ["rpc", "result"],
            registry=registry,
        )
        self.latency = Histogram(
            "tarif_engine_request_seconds",
            "gRPC request latency by method.",
            ["rpc"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.events = Counter(
            "tarif_engine_batch_events",
            "Events charged through ChargeEvents, by result.",
            ["result"],
            registry=registry,
        )
        self.script_latency = Histogram(
            "tarif_engine_redis_script_seconds",
            "Latency of one charging round trip to Redis (EVALSHA), by script.",
            ["script"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.open_sessions = Gauge(
            "tarif_engine_open_sessions",
            "Charging sessions holding a reservation (all partitions).",
            registry=registry,
        )
        self.reserved_units = Gauge(
            "tarif_engine_reserved_units",
            "Units held by open sessions, by resource (minor units for money).",
            ["resource"],
            registry=registry,
        )
        self.sessions_expired = Counter(
            "tarif_engine_sessions_expired",
            "Sessions released by the sweeper after their validity time.",
            registry=registry,
        )
        self.thresholds_fired = Counter(
            "tarif_engine_thresholds_fired",
            "Credit-profile thresholds crossed (notifications written), all types.",
            registry=registry,
        )
        self.pool_consumed = Counter(
            "tarif_engine_pool_consumed",
            "Units taken by group members from their owners' pools, by resource.",
            ["resource"],
            registry=registry,
        )
        self.unrated = Counter(
            "tarif_engine_unratable_events",
            "Debits that could not be rated, kept in tarif:unrated, by reason.",
            ["reason"],
            registry=registry,
        )
        self.catalog_version = Gauge(
            "tarif_engine_catalog_version",
            "Version of the compiled catalog in use.",
            registry=registry,
        )
