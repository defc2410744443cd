"""Prometheus metrics of the billing_batch process (registry injected: tests stay isolated)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BatchMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        # entries, not records: a rated entry holds an event chunk's records (`records`)
        self.ingested = Counter(
            "tarif_batch_ingested",
            "Stream entries stored in Postgres and acknowledged, by ingestor.",
            ["ingestor"],
            registry=registry,
        )
        self.records = Counter(
            "tarif_batch_records_ingested",
            "Records in the stream entries stored in Postgres and acknowledged, by ingestor"
            " (a rated entry holds up to an event chunk's records; other entries one each).",
            ["ingestor"],
            registry=registry,
        )
        self.stream_pending = Gauge(
            "tarif_batch_stream_pending",
            "Stream entries read but not yet acknowledged, by ingestor.",
            ["ingestor"],
            registry=registry,
        )
        # ingestion lag: stored entries are deleted, so what is left in a stream waits
        self.stream_backlog = Gauge(
            "tarif_batch_stream_backlog",
            "Stream entries not stored in Postgres yet (new, in flight or failing), by ingestor.",
            ["ingestor"],
            registry=registry,
        )
        self.stream_lag = Gauge(
            "tarif_batch_stream_lag_seconds",
            "Age of the oldest stream entry not stored in Postgres yet (0 when none), by ingestor.",
            ["ingestor"],
            registry=registry,
        )
        self.deliveries = Counter(
            "tarif_notifier_deliveries",
            "Notification delivery attempts by channel and outcome"
            " (delivered, failed = will retry, dead = gave up, skipped = no recipient/channel).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "tarif_notifier_delivery_seconds",
            "Time of one delivery attempt, by channel.",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.waiting = Gauge(
            "tarif_notifier_waiting_deliveries",
            "Deliveries not done yet (pending, waiting to retry, or in flight).",
            registry=registry,
        )
        self.unrated_open = Gauge(
            "tarif_unrated_open_events",
            "Unratable events kept and not yet re-rated, by reason.",
            ["reason"],
            registry=registry,
        )
        self.reratings = Counter(
            "tarif_unrated_reratings",
            "Re-ratings of unratable events sent to the engine, by the engine's result.",
            ["result"],
            registry=registry,
        )
        # Operations jobs (docs/jobs.md)
        self.job_runs = Counter(
            "tarif_job_runs",
            "Job runs finished, by job type and status (succeeded, failed).",
            ["job_type", "status"],
            registry=registry,
        )
        self.job_run_seconds = Histogram(
            "tarif_job_run_seconds",
            "Time from a run's start to its end, by job type.",
            ["job_type"],
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200),
            registry=registry,
        )
        self.job_failed_items = Counter(
            "tarif_job_failed_items",
            "Items (invoices, profiles, e-mails, ...) a run failed on, by job type.",
            ["job_type"],
            registry=registry,
        )
        self.job_items = Gauge(
            "tarif_job_running_items",
            "Progress of the runs going on in this process, by job type and count"
            " (total, succeeded, failed).",
            ["job_type", "count"],
            registry=registry,
        )
        self.jobs_running = Gauge(
            "tarif_job_runs_running",
            "Runs going on in this process, by job type.",
            ["job_type"],
            registry=registry,
        )
        self.alerts_open = Gauge(
            "tarif_alerts_open",
            "Alerts raised and not yet acknowledged, by severity (read by the job scheduler).",
            ["severity"],
            registry=registry,
        )
