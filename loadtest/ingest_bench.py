"""Benchmark of rated-record ingestion: `python -m loadtest.ingest_bench --records 1000000`.

In an embedded Postgres (a fresh database): the batch's real path, `billing_batch.rated.
RatedIngest`, on stream-like entries (the fields the engine writes to `tarif:{p}:rated`: parsed,
scaled and COPYed into `rated_events`; none is stored yet, so no batch takes the `INSERT ... ON
CONFLICT DO NOTHING` way of a replay), then a raw COPY of the same rows (already converted) into
a table shaped and indexed as a partition, in the same batch sizes: the ratio says what the path
costs above our stack's limit. The Python conversion alone (`to_row`) is timed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from billing_batch.rated import COLUMNS, RatedIngest, ensure_partitions, to_row
from billing_batch.streams import Entry
from tarif_common.embedded import EmbeddedPostgres
from tarif_postgres import db, queries

Q = queries.load("billing_bench")
START_MS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
MONTH_MS = 30 * 86_400_000
T = TypeVar("T")
ATTRIBUTES = json.dumps({"destination": "38641000000"})


def entries(n: int, accounts: int = 10_000) -> list[Entry]:
    """`n` rated records as the engine writes them (SMS and voice events over one month)."""
    out = []
    for i in range(n):
        account = i * 7919 % accounts
        at = str(START_MS + i * MONTH_MS // n)
        voice = i % 2 == 0
        cost = 5 + i % 40
        fields = {
            "id": f"e:{i}",
            "k": "event",
            "acct": f"L{account}",
            "sub": f"3864{account:08d}",
            "svc": "voice" if voice else "sms",
            "rate": "voice-std:386" if voice else "sms-std:386",
            "t": at,
            "at": at,
            "u": "60" if voice else "1",
            "ru": "60" if voice else "1",
            "cost": str(cost),
            "cur": "EUR",
            "dec": "2",
            "imp": f"main|EUR|{-cost}",
            "unc": "0",
            "sid": "",
            "attrs": ATTRIBUTES,
        }
        out.append(Entry(f"tarif:{{{i % 16}}}:rated", f"{i}-0", fields))
    return out


@dataclass(slots=True)
class Figures:
    records: int
    batch: int
    ingest_seconds: float = 0.0
    raw_seconds: float = 0.0
    convert_seconds: float = 0.0
    ingested: int = 0
    raw: int = 0

    @property
    def ingest_rate(self) -> float:
        return self.records / self.ingest_seconds

    @property
    def raw_rate(self) -> float:
        return self.records / self.raw_seconds

    @property
    def ok(self) -> bool:
        return self.ingested == self.raw == self.records


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def measure_url(url: str, records: int, batch: int) -> Figures:
    figures = Figures(records, batch)
    made = entries(records)
    await db.migrate_url(url)
    pool = await db.create_pool(url, max_size=2)
    try:
        async with pool.acquire() as conn:
            await conn.execute(Q.bench_raw_rated_table)
            # the month's partition exists before either run (creating it is not the path's cost)
            await ensure_partitions(conn, [datetime.fromtimestamp(START_MS / 1000, UTC)])
        ingest = RatedIngest(pool)
        began = time.perf_counter()
        for part in batches(made, batch):
            left = await ingest(part)
            assert not left, "every generated record is readable"
        figures.ingest_seconds = time.perf_counter() - began
        began = time.perf_counter()
        rows = [to_row(e.fields) for e in made]
        figures.convert_seconds = time.perf_counter() - began
        async with pool.acquire() as raw:
            began = time.perf_counter()
            for copied in batches(rows, batch):
                await raw.copy_records_to_table("rated_raw", records=copied, columns=COLUMNS)
            figures.raw_seconds = time.perf_counter() - began
        async with pool.acquire() as conn:
            counted = await conn.fetchrow(Q.bench_count_rated)
        figures.ingested, figures.raw = counted["ingested"], counted["raw"]
    finally:
        await pool.close()
    return figures


def measure(records: int, batch: int, workdir: Path) -> Figures:
    with EmbeddedPostgres(workdir / "pg", owned_root=workdir) as pg:
        return asyncio.run(measure_url(pg.url, records, batch))


def render(f: Figures, command: str) -> str:
    return "\n".join(
        [
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{command}`.",
            "",
            "| Figure | Value |",
            "|---|---|",
            f"| Records / batch | {f.records:,} / {f.batch:,} |",
            f"| RatedIngest (parse, COPY into rated_events), records/s | {f.ingest_rate:,.0f} |",
            f"| Raw COPY of the same rows into the same shape, records/s | {f.raw_rate:,.0f} |",
            f"| Ratio ingestion / raw COPY | {f.ingest_rate / f.raw_rate:.2f} |",
            f"| Python conversion alone (`to_row`), records/s | "
            f"{f.records / f.convert_seconds:,.0f} |",
            f"| Target 50,000 records/s | {'PASS' if f.ingest_rate >= 50_000 else '**FAIL**'} |",
            f"| Check: every record stored once, both ways | {'ok' if f.ok else '**FAILED**'} |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000, help="records per handler call")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="tarif-ingest-bench-"))
    try:
        figures = measure(args.records, args.batch, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(figures, f"python -m loadtest.ingest_bench --records {args.records}"
                          f" --batch {args.batch}"))  # fmt: skip
    if not figures.ok:
        raise SystemExit("a check failed")


if __name__ == "__main__":
    main()
