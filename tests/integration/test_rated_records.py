"""Every script that writes a rated record writes the fields `tarif_balances.records` defines,
with the decimals of the record's currency; the batch stores money with the record's own decimals
and reads records written before they carried them through the catalog."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from redis.exceptions import ResponseError

from billing_batch.rated import RatedIngest
from billing_batch.streams import Entry
from engine.housekeeping import Sweeper
from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.model import EventStep, Route
from tarif_balances.ports import EventCall
from tarif_balances.records import (
    BATCH,
    COMPACT,
    FIELDS,
    REQUIRED,
    RecordKind,
    entry_records,
    parse_record,
    record_fields,
)
from tarif_common import keys
from tarif_common.results import Result
from tests.integration.harness import Engine, account, catalog, eur, ts
from tests.integration.notifier_harness import eventually, running_batch
from tests.integration.requests import sms, voice

EURO, DINAR = "38640000171", "38640000172"


def dinar_catalog() -> dict[str, Any]:
    """The demo catalog and a plan whose SMS are charged in a currency of three decimals."""
    doc = catalog()
    doc["resources"]["BHD"] = {"kind": "money", "currency": "BHD", "decimals": 3}
    doc["tariffs"]["sms-bhd"] = {
        "service": "sms",
        "currency": "BHD",
        "rates": [{"prefix": "", "price": "0.015", "per": 1}],
    }
    doc["plans"]["dinar"] = {"tariffs": {"sms": "sms-bhd"}}
    return doc


async def test_every_writer_writes_the_defined_fields_with_the_decimals(engine: Engine) -> None:
    await engine.provision(
        account("r1", EURO, eur("10.00")),
        account("r2", DINAR, {"id": "main", "resource": "BHD", "amount": "1.000"}, plan="dinar"),
        catalog_doc=dinar_catalog(),
    )
    t = engine.clock.now
    await engine.stub.ChargeEvent(sms(EURO, "x1", t))
    await engine.stub.ChargeEvent(sms(DINAR, "x2", t))
    await engine.stub.StartSession(voice(EURO, "call", 0, t, requested=60))
    await engine.stub.UpdateSession(voice(EURO, "call", 1, t, used=60, requested=60))
    await engine.stub.EndSession(voice(EURO, "call", 2, t, used=30))
    await engine.stub.Refund(
        pb.RefundRequest(subscriber=EURO, refund_id="x1-back", original_event_id="x1",
                         event_time=ts(t))
    )  # fmt: skip
    await engine.stub.StartSession(voice(EURO, "left", 0, t, requested=60))
    engine.clock.advance(331)  # validity and grace passed
    sweeper = Sweeper(engine.app.store, engine.app.partitions, engine.app.metrics, engine.clock)
    assert await sweeper.run_once() == 1
    adjusted = await engine.app.store.adjust("r1", "main", 100, "x-adj", "goodwill", int(t * 1000))
    assert adjusted.result is Result.SUCCESS
    assert adjusted.amount_after is not None

    # every record in the compact form: alone (`COMPACT`) or with its event chunk's (`BATCH`)
    assert {tuple(entry) for entry in await engine.rated_entries()} == {(COMPACT,), (BATCH,)}
    found = await engine.rated_records()
    for fields in found:
        assert REQUIRED <= fields.keys() <= FIELDS.keys(), fields
        assert "dec" in fields
    records = {r.request_id: r for r in map(parse_record, found)}
    assert {r.kind for r in records.values()} == set(RecordKind) - {RecordKind.START}
    assert {(i, r.kind, r.cost, r.currency, r.decimals) for i, r in records.items()} == {
        ("e:x1", RecordKind.EVENT, 5, "EUR", 2),
        ("e:x2", RecordKind.EVENT, 15, "BHD", 3),
        ("s:call#1", RecordKind.UPDATE, 12, "EUR", 2),
        ("s:call#2", RecordKind.END, 12, "EUR", 2),
        ("r:x1-back", RecordKind.REFUND, -5, "EUR", 2),
        ("s:left#expired", RecordKind.EXPIRED, 0, "EUR", 2),
        ("a:x-adj", RecordKind.ADJUST, 0, "", 0),
    }
    assert records["r:x1-back"].refunded_event == "x1"
    assert records["a:x-adj"].reason == "goodwill"
    assert records["e:x2"].attributes == {"destination": "38641000000"}


async def stored(pg: asyncpg.Pool) -> dict[str, tuple[Decimal, Decimal, str]]:
    rows = await pg.fetch("SELECT request_id, cost, uncovered, currency FROM rated_events")
    return {r["request_id"]: (r["cost"], r["uncovered"], r["currency"]) for r in rows}


def older(fields: dict[str, str], request_id: str) -> dict[str, str]:
    """The record as the scripts wrote it before records carried decimals."""
    return {k: v for k, v in fields.items() if k != "dec"} | {"id": request_id}


async def test_money_is_stored_with_the_record_s_own_decimals(
    engine: Engine, pg: asyncpg.Pool
) -> None:
    await engine.provision(
        account("r3", DINAR, {"id": "main", "resource": "BHD", "amount": "1.000"}, plan="dinar"),
        catalog_doc=dinar_catalog(),
    )
    await engine.stub.ChargeEvent(sms(DINAR, "y1", engine.clock.now))
    (fields,) = await engine.rated_records()
    entries = [
        Entry("s", "1-0", fields),
        Entry("s", "1-1", older(fields, "e:y-old")),  # an older record: the catalog decides
        Entry("s", "1-2", older(fields, "e:y-old-zero") | {"cost": "0"}),
    ]
    no_catalog = RatedIngest(pg)
    assert await no_catalog(entries) == [entries[1]]  # kept pending, not stored with scale 0
    with_catalog = RatedIngest(pg, {"BHD": 3}.get)
    assert await with_catalog(entries) == []
    assert await stored(pg) == {
        "e:y1": (Decimal("0.015"), Decimal(0), "BHD"),
        "e:y-old": (Decimal("0.015"), Decimal(0), "BHD"),
        "e:y-old-zero": (Decimal(0), Decimal(0), "BHD"),
    }


@pytest.mark.parametrize("separator", ["\x1f", "\x1e"])  # of values; of a chunk's records
async def test_a_record_holding_the_separator_keeps_the_long_form(
    engine: Engine, separator: str
) -> None:
    await engine.provision(account("r5", EURO, eur("10.00")))
    at = int(engine.clock.now * 1000)
    reason = f"one{separator}two"
    adjusted = await engine.app.store.adjust("r5", "main", 100, "w-adj", reason, at)
    assert adjusted.result is Result.SUCCESS
    (entry,) = await engine.rated_entries()
    assert COMPACT not in entry
    assert entry.keys() >= REQUIRED
    assert parse_record(entry).reason == reason


async def test_a_chunk_s_record_holding_a_separator_gets_an_entry_of_its_own(
    engine: Engine,
) -> None:
    """In a chunk, the records without a separator are one entry; the one with, the long form."""
    await engine.provision(account("r9", EURO, eur("10.00")))
    at = datetime.fromtimestamp(engine.clock.now, UTC)
    where = {"destination": "38641000000"}
    compiled = engine.app.catalog.current
    assert compiled is not None
    quote = compiled.quote("basic", "sms", where, at, 1)
    route = Route(keys.partition_of("r9", engine.app.partitions), "r9", "basic")
    ids = ["j0", "j\x1e1", "j2", "j\x1f3", "j4"]  # ids the gRPC edge would refuse
    calls = [EventCall(route, EventStep(EURO, "sms", i, at, where, 1), quote) for i in ids]
    await engine.app.store.events(calls, int(engine.clock.now * 1000))
    entries = await engine.rated_entries()
    batched = [e for e in entries if BATCH in e]
    assert [r["id"] for e in batched for r in map(record_fields, entry_records(e))] == [
        "e:j0", "e:j2", "e:j4",
    ]  # fmt: skip
    long_form = [e for e in entries if BATCH not in e]
    assert [(COMPACT in e, parse_record(e).request_id) for e in long_form] == [
        (False, "e:j\x1e1"), (False, "e:j\x1f3"),
    ]  # fmt: skip
    assert len(batched) == 1


async def test_the_batch_ingests_old_and_compact_records_side_by_side(
    engine: Engine, pg: asyncpg.Pool
) -> None:
    await engine.provision(account("r6", EURO, eur("10.00")))
    await engine.stub.ChargeEvent(sms(EURO, "v1", engine.clock.now))
    (chunk,) = await engine.rated_entries()
    (record,) = entry_records(chunk)
    assert list(record) == [COMPACT]
    long_form = dict(record_fields(record)) | {"id": "e:v-long"}  # as written before
    entries = [Entry("s", "1-0", chunk), Entry("s", "1-1", long_form)]
    assert await RatedIngest(pg)(entries) == []
    assert await stored(pg) == {
        "e:v1": (Decimal("0.05"), Decimal(0), "EUR"),
        "e:v-long": (Decimal("0.05"), Decimal(0), "EUR"),
    }


async def test_the_batch_reads_an_older_record_through_the_catalog(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    await engine.provision(account("r4", EURO, eur("10.00")))
    await engine.stub.ChargeEvent(sms(EURO, "z1", engine.clock.now))
    (fields,) = await engine.rated_records()
    await engine.redis.xadd(keys.rated_stream(0), older(fields, "e:z-old") | {"cost": "123"})
    await engine.redis.xadd(keys.rated_stream(0), older(fields, "e:z-odd") | {"cur": "XTS"})
    async with running_batch(redis_url, database_url) as app:
        await eventually(lambda: app.metrics.ingested.labels("rated")._value.get() == 2)
        rated = next(i for i in app.ingestors if i.name == "rated")
        assert await rated.pending() == 1  # a currency the catalog does not know: it waits
    assert await stored(pg) == {
        "e:z1": (Decimal("0.05"), Decimal(0), "EUR"),
        "e:z-old": (Decimal("1.23"), Decimal(0), "EUR"),
    }


async def test_a_batch_s_records_are_one_entry_and_ingested_together(
    engine: Engine, pg: asyncpg.Pool
) -> None:
    await engine.provision(account("r7", EURO, eur("10.00")))
    batch = pb.EventBatch(events=[sms(EURO, f"u{i}", engine.clock.now) for i in range(3)])
    call = engine.stub.ChargeEvents()
    await call.write(batch)
    answer = await call.read()
    await call.done_writing()
    assert [a.result for a in answer.answers] == [pb.SUCCESS] * 3
    (chunk,) = await engine.rated_entries()
    assert list(chunk) == [BATCH]
    assert [r["id"] for r in await engine.rated_records()] == ["e:u0", "e:u1", "e:u2"]
    assert await RatedIngest(pg)([Entry("s", "1-0", chunk)]) == []
    assert sorted(await stored(pg)) == ["e:u0", "e:u1", "e:u2"]
    # one unreadable record keeps its whole entry pending, nothing of it stored
    bent = chunk[BATCH].replace("e:u1\x1fevent", "e:u9\x1fnot-a-kind")
    bent = bent.replace("e:u0", "e:u8").replace("e:u2", "e:u7")
    held = Entry("s", "1-1", {BATCH: bent})
    assert await RatedIngest(pg)([held]) == [held]
    assert sorted(await stored(pg)) == ["e:u0", "e:u1", "e:u2"]


async def test_a_chunk_s_records_are_written_when_a_later_event_fails(engine: Engine) -> None:
    """An error inside event.lua stops the chunk, but what it charged before has its records."""
    partitions = engine.app.partitions
    p = keys.partition_of("r8", partitions)
    other = next(f"r8-{i}" for i in range(1000) if keys.partition_of(f"r8-{i}", partitions) == p)
    await engine.provision(account("r8", EURO, eur("10.00")), account(other, DINAR, eur("1.00")))
    await engine.redis.delete(keys.account(p, other))
    await engine.redis.set(keys.account(p, other), "not a hash")  # HGETALL fails: WRONGTYPE
    at = datetime.fromtimestamp(engine.clock.now, UTC)
    where = {"destination": "38641000000"}
    compiled = engine.app.catalog.current
    assert compiled is not None
    quote = compiled.quote("basic", "sms", where, at, 1)
    calls = [
        EventCall(Route(p, acct, "basic"), EventStep(msisdn, "sms", f"k{n}", at, where, 1), quote)
        for n, (acct, msisdn) in enumerate([("r8", EURO), (other, DINAR), ("r8", EURO)])
    ]
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await engine.app.store.events(calls, int(engine.clock.now * 1000))
    assert await engine.balance(EURO) == 1000 - 5  # the first event was charged...
    assert [r["id"] for r in await engine.rated_records()] == ["e:k0"]  # ...and has its record
