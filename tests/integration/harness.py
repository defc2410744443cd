"""An engine App on an ephemeral port, with a clock the test moves, and a stub to call it."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from billing_batch import unrated as unrated_ingest
from billing_batch.metrics import BatchMetrics
from billing_batch.streams import StreamIngestor
from engine.app import App
from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tarif_balances.provisioning import Provisioner, load_document
from tarif_balances.records import entry_records, record_fields
from tarif_common import keys
from tarif_common.settings import Settings

DEMO = load_document(Path(__file__).resolve().parents[2] / "examples" / "demo.yaml")

# Wednesday 2026-11-18 11:59 local time in Ljubljana (UTC+1): off-peak is irrelevant for Italy.
T0 = datetime(2026, 11, 18, 10, 59, tzinfo=UTC).timestamp()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def catalog() -> dict[str, Any]:
    return copy.deepcopy(DEMO["catalog"])


def account(
    account_id: str, msisdn: str, *balances: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "id": account_id,
        "plan": "basic",
        "services": [msisdn],
        "balances": list(balances),
        **extra,
    }


def eur(amount: str, balance_id: str = "main", **extra: Any) -> dict[str, Any]:
    return {"id": balance_id, "resource": "EUR", "amount": amount, **extra}


def ts(at: float) -> Any:
    stamp = pb.EventRequest().event_time
    stamp.FromMicroseconds(int(at * 1_000_000))
    return stamp


@dataclass
class Engine:
    app: App
    stub: pb_grpc.ChargingServiceStub
    channel: grpc.aio.Channel
    clock: Clock
    redis: Redis

    async def provision(
        self,
        *accounts: dict[str, Any],
        catalog_doc: dict[str, Any] | None = None,
        groups: list[dict[str, Any]] | None = None,
    ) -> None:
        doc: dict[str, Any] = {"accounts": list(accounts), "sharing_groups": groups or []}
        if catalog_doc is not None:
            doc["catalog"] = catalog_doc
        await Provisioner(self.redis, self.app.partitions).apply(doc)
        await self.app.catalog.refresh()

    async def balance(self, msisdn: str, balance_id: str = "main") -> int:
        report = await self.stub.GetBalances(pb.BalanceQuery(subscriber=msisdn))
        return next(b.amount for b in report.balances if b.id == balance_id)

    async def ingest_unrated(self, pg: asyncpg.Pool) -> int:
        """What the batch process does: move `tarif:unrated` into Postgres."""
        ingestor = StreamIngestor(
            self.redis,
            "unrated",
            [keys.UNRATED],
            unrated_ingest.UnratedIngest(pg, BatchMetrics(CollectorRegistry())),
            consumer="test",
            block_ms=10,
        )
        await ingestor.prepare()
        return await ingestor.step()

    async def rated_entries(self) -> list[dict[str, str]]:
        """The rated streams' entries as stored (compact or long form)."""
        entries = []
        for partition in range(self.app.partitions):
            for _, fields in await self.redis.xrange(f"tarif:{{p{partition}}}:rated"):
                entries.append({k.decode(): v.decode() for k, v in fields.items()})
        return entries

    async def rated_records(self) -> list[dict[str, str]]:
        """The rated records' fields (`entry_records`, `record_fields`: every form)."""
        entries = await self.rated_entries()
        return [dict(record_fields(r)) for entry in entries for r in entry_records(entry)]


@asynccontextmanager
async def running_engine(
    redis_url: str, redis: Redis, *, serve_metrics: bool = False, **overrides: Any
) -> AsyncIterator[Engine]:
    clock = Clock()
    settings = Settings(
        redis_url=redis_url,
        grpc_addr="127.0.0.1:0",
        metrics_addr="127.0.0.1:0",
        shutdown_grace=1.0,
        **overrides,
    )
    async with App(settings, clock=clock, serve_metrics=serve_metrics) as app:
        await Provisioner(redis, app.partitions).publish_catalog(catalog())
        await app.catalog.refresh()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            yield Engine(app, pb_grpc.ChargingServiceStub(channel), channel, clock, redis)
