"""The billing_batch process: moves the engine's streams (rated records, notifications,
unratable usage) into Postgres, runs the notifier, and schedules and runs the operations jobs
(docs/jobs.md; TARIF_JOBS_ENABLED).

Migrations are applied on start (idempotent, under an advisory lock). Several batch processes may
run side by side, each with its own TARIF_BATCH_CONSUMER name: the consumer groups share the
streams and `SKIP LOCKED` shares the deliveries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import httpx
from prometheus_client import CollectorRegistry

from billing_batch import unrated
from billing_batch.jobs import registry
from billing_batch.jobs.context import JobContext, RunOnce
from billing_batch.jobs.runner import Runner
from billing_batch.jobs.scheduler import Scheduler
from billing_batch.jobs.worker import JobWorker
from billing_batch.metrics import BatchMetrics
from billing_batch.notifier.channels import (
    Channel,
    EmailChannel,
    SmsGatewayChannel,
    WebhookChannel,
)
from billing_batch.notifier.dispatcher import Dispatcher, RetryPolicy
from billing_batch.notifier.ingest import NotificationIngest
from billing_batch.rated import RatedIngest, record_count
from billing_batch.streams import StreamIngestor
from tarif_catalog.cache import CatalogCache
from tarif_catalog.model import Resource
from tarif_common import keys
from tarif_common.lifecycle import TRANSIENT, Process, every
from tarif_common.readiness import NotReady, Readiness, probe
from tarif_common.redis_client import connect
from tarif_common.settings import Settings
from tarif_jobs.mail import Mailer
from tarif_notifications import store as notifier_store
from tarif_notifications.messages import Renderer
from tarif_postgres import db, queries
from tarif_postgres.driver import DB_ERRORS

log = logging.getLogger(__name__)
Q = queries.load("notifications")

_PG_TRANSIENT = (*TRANSIENT, *DB_ERRORS)


def channels_from(
    settings: Settings, renderer: Renderer, client: httpx.AsyncClient
) -> dict[str, Channel]:
    """The channels the settings configure; the others are off."""
    s = settings
    found: dict[str, Channel] = {}
    if mailer := Mailer.from_settings(s):
        found["email"] = EmailChannel(renderer, mailer)
    if s.sms_gateway_url:
        found["sms"] = SmsGatewayChannel(
            renderer, client, url=s.sms_gateway_url, sender=s.sms_sender, token=s.sms_gateway_token
        )
    if s.webhook_url and s.webhook_secret:
        found["webhook"] = WebhookChannel(client, secret=s.webhook_secret)
    return found


def _ingest_task(ingestor: StreamIngestor) -> str:
    """The name of an ingest loop's task (in logs, and looked for by the readiness check)."""
    return f"ingest-{ingestor.name}"


class BatchApp(Process):
    name = "batch"

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        serve_metrics: bool = True,
        idle_poll: float = 1.0,
        job_types: Callable[[str], RunOnce] = registry.run_once_of,
    ) -> None:
        if settings.redis_url is None or settings.database_url is None:
            raise ValueError("BatchApp needs redis_url and database_url (the CLI embeds them)")
        super().__init__(registry=registry)
        self.settings = settings
        self.metrics = BatchMetrics(self.registry)
        self._metrics_wanted = serve_metrics
        self._idle_poll = idle_poll
        self._job_types = job_types  # tests add job types of their own
        self.jobs_worker: JobWorker | None = None

    async def _start(self) -> None:
        s = self.settings
        assert s.redis_url is not None
        assert s.database_url is not None
        self.redis = connect(s.redis_url)
        self._stack.push_async_callback(self.redis.aclose)
        await self.redis.ping()
        await self.redis.hsetnx(keys.META, "partitions", s.partitions)
        partitions = int(await self.redis.hget(keys.META, "partitions") or s.partitions)

        await db.migrate_url(s.database_url)
        # a run holds one connection (its lock) and works on others; PgQueuer listens on one
        jobs = 3 * s.jobs_concurrency + 2 if s.jobs_enabled else 0
        self.pool = await db.create_pool(s.database_url, max_size=s.notify_concurrency + 5 + jobs)
        self._stack.push_async_callback(self.pool.close)

        # The catalog gives a notification's resource its unit and decimals; rated records carry
        # their own decimals (only records written before that ask the catalog).
        self.catalog = CatalogCache(self.redis, s.catalog_poll_interval)
        await self.catalog.refresh()
        client = httpx.AsyncClient(timeout=s.notify_timeout)
        self._stack.push_async_callback(client.aclose)
        renderer = Renderer(s.templates_dir)
        channels = channels_from(s, renderer, client)
        self.dispatcher = Dispatcher(
            self.pool,
            channels,
            RetryPolicy(s.notify_max_attempts, s.notify_backoff, s.notify_backoff_max),
            self.metrics,
            lease=s.notify_lease,
            concurrency=s.notify_concurrency,
            idle_poll=self._idle_poll,
        )
        common = {
            "consumer": s.batch_consumer,
            "claim_idle_ms": int(s.stream_claim_idle * 1000),
            "block_ms": int(self._idle_poll * 1000),
            "ingested": self.metrics.ingested,
            "records": self.metrics.records,
        }
        self.ingestors = [
            StreamIngestor(
                self.redis,
                "notifications",
                [keys.notification_stream(p) for p in range(partitions)],
                NotificationIngest(
                    self.pool,
                    self._resources,
                    set(channels),
                    s.webhook_url,
                    self.metrics,
                    self.dispatcher.wake,
                ),
                **common,  # type: ignore[arg-type]
            ),
            StreamIngestor(
                self.redis,
                "rated",
                [keys.rated_stream(p) for p in range(partitions)],
                RatedIngest(self.pool, self._legacy_decimals),
                record_count=record_count,
                **common,  # type: ignore[arg-type]
            ),
            StreamIngestor(
                self.redis,
                "unrated",
                [keys.UNRATED],
                unrated.UnratedIngest(self.pool, self.metrics),
                **common,  # type: ignore[arg-type]
            ),
        ]
        for ingestor in self.ingestors:
            await ingestor.prepare()
        if self._metrics_wanted:
            self._serve_metrics(s.batch_metrics_addr, self.readiness)

        self._spawn("catalog", self.catalog.watch(self._stopped))
        for ingestor in self.ingestors:
            self._spawn(_ingest_task(ingestor), ingestor.run(self._stopped))
        self._spawn("notifier", self.dispatcher.run(self._stopped))
        self._spawn(
            "gauges", every(5.0, self.refresh_gauges, "gauges", self._stopped, _PG_TRANSIENT)
        )
        if s.jobs_enabled:
            self._start_jobs()
        self.renderer = renderer
        await self.load_templates()
        self._spawn(
            "templates", every(10.0, self.load_templates, "templates", self._stopped, _PG_TRANSIENT)
        )
        log.info(
            "batch.started",
            extra={"channels": sorted(channels), "metrics_port": self.metrics_port},
        )

    async def readiness(self) -> Readiness:
        """Ready: Postgres and Redis answer and every ingest loop runs (`/readyz` on the metrics
        port, docs/health.md)."""
        return await probe(
            {
                "postgres": lambda: db.ping(self.pool),
                "redis": self.redis.ping,
                "ingestion": self._ingesting,
            }
        )

    async def _ingesting(self) -> None:
        if self._stopped.is_set():
            raise NotReady("the process is stopping")
        running = {task.get_name() for task in self._tasks if not task.done()}
        missing = [_ingest_task(i) for i in self.ingestors if _ingest_task(i) not in running]
        if missing:
            raise NotReady("not running: " + ", ".join(missing))

    def _start_jobs(self) -> None:
        """The scheduler loop and the job worker (every batch process runs both)."""
        s = self.settings
        context = JobContext(self.pool, self.redis, s, stop=self._jobs_stopping)
        runner = Runner(
            context,
            self.metrics,
            worker=f"{s.batch_consumer}:{os.getpid()}",
            max_attempts=s.jobs_max_attempts,
            job_types=self._job_types,
        )
        self.jobs_worker = JobWorker(self.pool, runner, s)
        self.scheduler = Scheduler(
            self.pool, self.metrics, queue_log_days=self.settings.jobs_queue_log_days
        )
        self._spawn("jobs-worker", self.jobs_worker.run(self._stopped))
        self._spawn(
            "jobs-scheduler",
            every(
                s.jobs_poll_interval,
                self.scheduler.work,
                "jobs-scheduler",
                self._stopped,
                _PG_TRANSIENT,
            ),
        )

    def _jobs_stopping(self) -> bool:
        return self.jobs_worker is not None and self.jobs_worker.stopping()

    async def _before_tasks_stop(self) -> None:
        """Runs going on get the grace time to reach a unit boundary and be handed back."""
        if self.jobs_worker is not None:
            await self.jobs_worker.stop(self.settings.shutdown_grace)

    async def load_templates(self) -> None:
        """Mail templates kept in Postgres (admin API: /v1/mail-templates) override the others."""
        rows = await self.pool.fetch(Q.stored_mail_templates)
        fresh = {f"{r['name']}.j2": r["body"] for r in rows}
        if fresh != self.renderer.stored:
            self.renderer.stored.clear()
            self.renderer.stored.update(fresh)

    def _resources(self) -> dict[str, Resource]:
        """The catalog's resources: a notification names a resource, not its unit or decimals."""
        compiled = self.catalog.current
        return dict(compiled.catalog.resources) if compiled else {}

    def _legacy_decimals(self, currency: str) -> int | None:
        """A currency's decimals in the catalog, for rated records written before they carried
        their own; None if the catalog has no such currency (the record waits)."""
        for resource in self._resources().values():
            if resource.currency == currency:
                return resource.decimals
        return None

    async def refresh_gauges(self) -> None:
        for ingestor in self.ingestors:
            self.metrics.stream_pending.labels(ingestor.name).set(await ingestor.pending())
            backlog = await ingestor.backlog()
            self.metrics.stream_backlog.labels(ingestor.name).set(backlog.entries)
            self.metrics.stream_lag.labels(ingestor.name).set(backlog.lag_seconds)
        async with self.pool.acquire() as conn:
            self.metrics.waiting.set(await notifier_store.waiting(conn))
            counts = await unrated.open_counts(conn)
        self.metrics.unrated_open.clear()
        for reason, count in counts.items():
            self.metrics.unrated_open.labels(reason).set(count)
