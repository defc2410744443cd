"""Rated records reach Postgres once each, and they account for every balance movement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

import asyncpg
import pytest
from redis.asyncio import Redis

from billing_batch.rated import RatedIngest
from billing_batch.streams import Entry, StreamIngestor
from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.records import BATCH, RECORDS_SEPARATOR, compact_text, entry_records
from tarif_common import keys
from tarif_common.errors import DatabaseError
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.harness import Engine, account, eur, ts
from tests.integration.notifier_harness import eventually, running_batch
from tests.integration.requests import sms, voice

MSISDN = "38640000131"


async def rows(pg: asyncpg.Pool) -> list[dict[str, object]]:
    async with pg.acquire() as conn:
        found = await conn.fetch("SELECT * FROM rated_events ORDER BY charged_at, request_id")
    return [dict(r) for r in found]


async def test_every_record_lands_once_and_explains_the_balance(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    await engine.provision(account("g1", MSISDN, eur("10.00")))
    now = engine.clock.now
    for i in range(3):
        await engine.stub.ChargeEvent(sms(MSISDN, f"s{i}", now))
    await engine.stub.StartSession(voice(MSISDN, "call", 1, now, requested=60))
    engine.clock.advance(30)
    await engine.stub.EndSession(voice(MSISDN, "call", 2, engine.clock.now, used=30))
    await engine.stub.Refund(
        pb.RefundRequest(subscriber=MSISDN, refund_id="rf1", original_event_id="s0",
                         event_time=ts(engine.clock.now))
    )  # fmt: skip
    expected = len(await engine.rated_records())
    async with running_batch(redis_url, database_url) as app:
        await eventually(lambda: app.metrics.ingested.labels("rated")._value.get() == expected)
    stored = await rows(pg)
    assert len(stored) == expected
    kinds = sorted(str(r["kind"]) for r in stored)
    assert kinds == ["end", "event", "event", "event", "refund"]  # a start with no usage: none
    refund = next(r for r in stored if r["kind"] == "refund")
    assert (refund["cost"], refund["currency"], refund["refunded"]) == (
        Decimal("-0.05"),
        "EUR",
        "s0",
    )
    event = next(r for r in stored if r["request_id"] == "e:s1")
    assert (event["subscriber"], event["service"], event["units"]) == (MSISDN, "sms", 1)
    assert event["attributes"] == {"destination": "38641000000"}
    # The records' movements add up to what the balance lost.
    moved: dict[str, int] = defaultdict(int)
    for r in stored:
        for part in str(r["impacts"]).split(","):
            if part:
                balance, _, amount = part.split("|")
                moved[balance] += int(amount)
    assert 1000 + moved["main"] == await engine.balance(MSISDN)
    for p in range(engine.app.partitions):  # acknowledged and gone from Redis
        assert await engine.redis.xlen(keys.rated_stream(p)) == 0
    async with pg.acquire() as conn:
        partitions = await conn.fetchval(
            "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE p.relname = 'rated_events'"
        )
    assert partitions >= 1


async def test_the_records_counter_counts_each_record_of_a_chunk_s_entry(
    engine: Engine, pg: asyncpg.Pool, redis_url: str, database_url: str
) -> None:
    """`tarif_batch_ingested_total` counts entries; an event chunk writes its records as one
    entry, and `tarif_batch_records_ingested_total` counts those records, stored ones only."""
    await engine.provision(account("g4", MSISDN, eur("10.00")))
    now = engine.clock.now
    call = engine.stub.ChargeEvents()
    await call.write(pb.EventBatch(events=[sms(MSISDN, f"b{i}", now) for i in range(3)]))
    assert [a.result for a in (await call.read()).answers] == [pb.SUCCESS] * 3
    await call.done_writing()
    await engine.stub.ChargeEvent(sms(MSISDN, "alone", now))
    entries = await engine.rated_entries()
    assert sorted(len(entry_records(e)) for e in entries) == [1, 3]
    (chunk,) = (e for e in entries if len(entry_records(e)) == 3)
    # a chunk's entry with an unreadable record stays pending: neither it nor its records count
    bent = chunk[BATCH].replace("e:b0", "e:x0").replace("e:b1\x1fevent", "e:x1\x1fnot-a-kind")
    await engine.redis.xadd(keys.rated_stream(0), {BATCH: bent.replace("e:b2", "e:x2")})
    async with running_batch(redis_url, database_url) as app:
        await eventually(lambda: app.metrics.ingested.labels("rated")._value.get() == 2)
        assert app.metrics.records.labels("rated")._value.get() == 4
        rated = next(i for i in app.ingestors if i.name == "rated")
        assert await rated.pending() == 1
    assert sorted(str(r["request_id"]) for r in await rows(pg)) == [
        "e:alone", "e:b0", "e:b1", "e:b2",
    ]  # fmt: skip


class Crash(Exception):
    pass


async def test_a_crash_after_commit_stores_nothing_twice(engine: Engine, pg: asyncpg.Pool) -> None:
    await engine.provision(account("g2", MSISDN, eur("1.00")))
    for i in range(5):
        await engine.stub.ChargeEvent(sms(MSISDN, f"c{i}", engine.clock.now))
    real = RatedIngest(pg)

    async def commit_then_die(entries: Sequence[Entry]) -> list[Entry]:
        await real(entries)
        raise Crash

    streams = [keys.rated_stream(p) for p in range(engine.app.partitions)]
    redis: Redis = engine.redis
    first = StreamIngestor(redis, "rated", streams, commit_then_die, consumer="a", claim_idle_ms=1)
    await first.prepare()
    with pytest.raises(Crash):
        await first.step()
    second = StreamIngestor(redis, "rated", streams, real, consumer="b", claim_idle_ms=1)
    await second._claim_abandoned()
    assert [r["request_id"] for r in await rows(pg)] == [f"e:c{i}" for i in range(5)]
    assert await second.pending() == 0


async def test_after_losing_redis_sync_restores_live_balances_from_the_records(
    admin: Admin, redis_url: str, database_url: str
) -> None:
    engine = admin.engine
    created = await admin.call("POST", "/v1/customers", json=onboarding("38640559100"))
    customer = created.json()
    for i in range(3):
        await engine.stub.ChargeEvent(sms("38640559100", f"k{i}", engine.clock.now))
    adjust = {"request_id": "k-adj", "amount": "2.00", "reason": "goodwill"}
    path = f"/v1/customers/{customer['id']}/balances/main/adjustments"
    assert (await admin.call("POST", path, json=adjust)).json()["status"] == "applied"
    before = await engine.balance("38640559100")
    assert before == 1000 - 15 + 200
    async with running_batch(redis_url, database_url) as app:
        await eventually(lambda: app.metrics.ingested.labels("rated")._value.get() == 4)
    await engine.redis.flushdb()  # Redis lost everything
    assert await admin.relay.sync_all() == {"accounts": 1, "groups": 0}
    await engine.app.catalog.refresh()
    assert await engine.balance("38640559100") == before
    await admin.relay.sync_all()  # again: Redis has it now, nothing moves twice
    assert await engine.balance("38640559100") == before


async def test_after_losing_redis_purchases_come_back_paid_once(
    admin: Admin, redis_url: str, database_url: str
) -> None:
    """A prepaid bundle's payment and a product's modification are adjustments: the rated
    records carry them, so the balances come back as they were."""
    engine = admin.engine
    body = onboarding("38640559200", subscription__plan="smart")
    body["subscription"]["balances"] = [{"id": "main", "resource": "EUR", "amount": "30.00"}]
    customer = (await admin.call("POST", "/v1/customers", json=body)).json()
    cid, sid = customer["id"], customer["subscriptions"][0]["id"]
    listed = await admin.call("GET", f"/v1/customers/{cid}/subscriptions/{sid}/products")
    voice = next(p for p in listed.json()["items"] if p["product"] == "voice-100min")
    path = f"/v1/customers/{cid}/subscriptions/{sid}/products/{voice['id']}"
    assert (await admin.call("PATCH", path, json={"quantity": 3})).status_code == 200
    before = {b: await engine.balance("38640559200", b) for b in ("main", voice["balance_id"])}
    assert before == {"main": 3000 - 1719, voice["balance_id"]: 18_000}
    async with running_batch(redis_url, database_url) as app:
        await eventually(lambda: app.metrics.ingested.labels("rated")._value.get() == 2)
    await engine.redis.flushdb()
    await admin.relay.sync_all()
    await engine.app.catalog.refresh()
    after = {b: await engine.balance("38640559200", b) for b in before}
    assert after == before


def record(i: int) -> Entry:
    at = str(1_795_000_000_000 + i * 1000)
    fields = {
        "id": f"e:q{i}", "k": "event", "acct": "q1", "sub": "38640000199", "svc": "sms",
        "rate": "sms-std:", "t": at, "at": at, "u": "1", "ru": "1", "cost": "5", "cur": "EUR",
        "dec": "2", "imp": "main|EUR|-5", "unc": "0", "sid": "", "attrs": '{"destination":"386"}',
    }  # fmt: skip
    return Entry(keys.rated_stream(0), f"{i}-0", fields)


async def stored_by(pg: asyncpg.Pool) -> dict[str, tuple[object, ...]]:
    """Each stored record's transaction and cost, by request id (a duplicate would fail the
    count check below)."""
    async with pg.acquire() as conn:
        found = await conn.fetch("SELECT request_id, ingest_xid, cost FROM rated_events")
    assert len(found) == len({r["request_id"] for r in found})
    return {r["request_id"]: (r["ingest_xid"], r["cost"]) for r in found}


@pytest.mark.parametrize("part", [1_000, 2])  # a batch in one COPY; in parts of 2, together
async def test_a_batch_holding_stored_records_stores_the_others_once(
    pg: asyncpg.Pool, part: int
) -> None:
    ingest = RatedIngest(pg, part=part)
    first = [record(i) for i in range(3)]
    assert await ingest(first) == []
    before = await stored_by(pg)
    assert sorted(before) == ["e:q0", "e:q1", "e:q2"]
    # two replayed entries, a new record, and another new one twice in the batch
    assert await ingest([*first[1:], record(3), record(4), record(4)]) == []
    after = await stored_by(pg)
    assert sorted(after) == ["e:q0", "e:q1", "e:q2", "e:q3", "e:q4"]
    assert {k: after[k] for k in before} == before  # stored once: the first write stands
    assert after["e:q3"][0] == after["e:q4"][0] != before["e:q0"][0]  # one transaction, later
    assert after["e:q4"][1] == Decimal("0.05")
    assert await ingest(first) == []  # the whole batch replayed: nothing changes
    assert await stored_by(pg) == after


async def test_a_dropped_partition_is_created_again(pg: asyncpg.Pool) -> None:
    ingest = RatedIngest(pg)  # remembers which months have a partition
    assert await ingest([record(0)]) == []
    async with pg.acquire() as conn:
        await conn.execute("DROP TABLE rated_events_2026_11")  # an archived month, say
    assert await ingest([record(1)]) == []
    assert sorted(await stored_by(pg)) == ["e:q1"]


async def test_a_part_refused_leaves_the_batch_pending_and_a_replay_stores_each_once(
    pg: asyncpg.Pool,
) -> None:
    ingest = RatedIngest(pg, part=2)
    refused = Entry(record(2).stream, "2-0", record(2).fields | {"sub": "nul\x00"})
    with pytest.raises(DatabaseError):  # Postgres text holds no NUL: that part fails
        await ingest([record(0), record(1), refused])
    assert sorted(await stored_by(pg)) == ["e:q0", "e:q1"]  # the other part committed
    assert await ingest([record(0), record(1), record(2)]) == []  # the entries, read again
    assert sorted(await stored_by(pg)) == ["e:q0", "e:q1", "e:q2"]


async def test_parts_count_the_records_of_chunk_entries(pg: asyncpg.Pool) -> None:
    """An entry may hold an event chunk's records: a part is `part` records, not entries."""
    chunk = [compact_text(record(i).fields) for i in range(5)]
    entries = [
        Entry(keys.rated_stream(0), "1-0", {BATCH: RECORDS_SEPARATOR.join(chunk[:3])}),
        Entry(keys.rated_stream(0), "2-0", {BATCH: RECORDS_SEPARATOR.join(chunk[3:])}),
        record(5),  # the long form, next to them
    ]
    assert await RatedIngest(pg, part=2)(entries) == []
    stored = await stored_by(pg)
    assert sorted(stored) == [f"e:q{i}" for i in range(6)]
    transactions = [stored[f"e:q{i}"][0] for i in range(6)]
    # parts: the first entry's 3 records, then the second's 2, then the last one
    assert transactions[0] == transactions[1] == transactions[2]
    assert transactions[3] == transactions[4] != transactions[0]
    assert transactions[5] not in (transactions[0], transactions[3])
