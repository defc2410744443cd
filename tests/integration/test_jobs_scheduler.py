"""The job scheduler and the run's life on real Postgres and Redis: a due job makes one run as of
its due time, missed times one catch-up run, runs left count down, a one-off finishes, a chained
job starts after its parent's success only; the billing job end to end (criteria, counts, a
failed invoice, its retry); PgQueuer's schema is installed and upgraded by migrating."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from billing_batch.jobs.runner import LOCK_BASE, Q
from billing_batch.jobs.scheduler import Scheduler
from billing_batch.metrics import BatchMetrics
from tarif_common.settings import Settings
from tarif_postgres import db
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import postpaid_customer, profile_of, store_usage
from tests.integration.scheduler_harness import (
    insert_job,
    job,
    queued,
    retry,
    runner,
    runs,
    scheduler,
    settings,
)

JAN1 = datetime(2026, 1, 1, 6, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _settings(redis_url: str, database_url: str) -> Settings:
    return settings(redis_url, database_url)


async def test_a_due_job_makes_one_run_as_of_its_due_time(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str
) -> None:
    job_id = await insert_job(pg, "daily", start_at=JAN1, every=(1, "days"), criteria={"units": 2})
    sched = scheduler(pg)
    assert await sched.tick(JAN1 - timedelta(seconds=1)) == 0  # not due yet
    assert await sched.tick(JAN1 + HOUR) == 1
    assert await sched.tick(JAN1 + HOUR) == 0  # the same due time: no second run
    (run,) = await runs(pg, job_id)
    assert (run["trigger"], run["status"], run["process_now"]) == ("schedule", "queued", JAN1)
    assert run["criteria"] == {"units": 2}
    assert (await job(pg, job_id))["next_run_at"] == JAN1 + DAY
    assert await queued(pg) == [run["id"]]  # queued for the workers with its row

    # a worker runs it: succeeded, with its counts, start and end
    outcome = await runner(pg, redis, _settings(redis_url, database_url)).run(run["id"])
    assert outcome == "finished"
    (run,) = await runs(pg, job_id)
    assert (run["status"], run["total"], run["succeeded"], run["failed"]) == ("succeeded", 2, 2, 0)
    assert (run["attempts"], run["worker"], run["error"]) == (1, "test", None)
    assert run["started_at"] <= run["finished_at"]
    # handed to a worker again: nothing happens twice
    assert await runner(pg, redis, _settings(redis_url, database_url)).run(run["id"]) == "skipped"
    assert (await runs(pg, job_id))[0]["attempts"] == 1

    # exactly on the next due time
    assert await sched.tick(JAN1 + DAY) == 1
    assert [r["process_now"] for r in await runs(pg, job_id)] == [JAN1, JAN1 + DAY]


async def test_missed_due_times_make_one_catch_up_run(pg: asyncpg.Pool) -> None:
    job_id = await insert_job(pg, "daily", start_at=JAN1, every=(1, "days"))
    sched = scheduler(pg)
    assert await sched.tick(JAN1 + HOUR) == 1
    # everything down from the 1st to noon on the 11th: nine due times missed, one run
    back = datetime(2026, 1, 11, 12, tzinfo=UTC)
    assert await sched.tick(back) == 1
    assert [r["process_now"] for r in await runs(pg, job_id)] == [JAN1, JAN1 + 10 * DAY]
    assert (await job(pg, job_id))["next_run_at"] == JAN1 + 11 * DAY


async def test_runs_left_count_down_and_a_one_off_finishes(pg: asyncpg.Pool) -> None:
    twice = await insert_job(pg, "twice", start_at=JAN1, every=(90, "minutes"), runs_left=2)
    once = await insert_job(pg, "once", kind="once", start_at=JAN1 + HOUR)
    paused = await insert_job(pg, "paused", start_at=JAN1, every=(1, "hours"), active=False)
    sched = scheduler(pg)
    assert await sched.tick(JAN1) == 1
    assert (await job(pg, twice))["runs_left"] == 1
    assert await sched.tick(JAN1 + 2 * HOUR) == 2  # twice's second run, and the one-off
    for job_id in (twice, once):
        assert (await job(pg, job_id))["next_run_at"] is None
    assert (await job(pg, twice))["runs_left"] == 0
    assert await sched.tick(JAN1 + 10 * DAY) == 0
    assert [r["process_now"] for r in await runs(pg, twice)] == [
        JAN1,
        JAN1 + 90 * timedelta(minutes=1),
    ]
    assert [r["process_now"] for r in await runs(pg, once)] == [JAN1 + HOUR]
    assert await runs(pg, paused) == []


async def test_schedulers_side_by_side_make_each_due_run_once(pg: asyncpg.Pool) -> None:
    ids = [
        await insert_job(
            pg, f"job-{i}", start_at=JAN1 + i * timedelta(minutes=1), every=(1, "days")
        )
        for i in range(60)
    ]
    made = await asyncio.gather(*(scheduler(pg).tick(JAN1 + HOUR) for _ in range(4)))
    assert sum(made) == 60
    every_run = await runs(pg)
    assert sorted(r["job_id"] for r in every_run) == ids
    assert sorted(await queued(pg)) == [r["id"] for r in every_run]


async def test_a_job_whose_schedule_cannot_be_is_alerted_and_left_without_a_next_run(
    pg: asyncpg.Pool,
) -> None:
    job_id = await insert_job(pg, "mars", start_at=JAN1, every=(1, "days"), time_zone="Mars/Base")
    assert await scheduler(pg).tick(JAN1 + HOUR) == 0
    assert (await job(pg, job_id))["next_run_at"] is None
    alert = await pg.fetchrow("SELECT * FROM alerts")
    assert (alert["process"], alert["object_type"], alert["object_id"]) == (
        "job.scheduler",
        "job",
        str(job_id),
    )
    assert "Mars/Base" in alert["message"]
    # a next due time past what a date can hold (year 9999): the same, the loop goes on
    end = datetime(9999, 12, 31, 6, tzinfo=UTC)
    last = await insert_job(pg, "the end", start_at=end - DAY, every=(1, "days"))
    assert await scheduler(pg).tick(end) == 0
    assert (await job(pg, last))["next_run_at"] is None
    assert await pg.fetchval("SELECT count(*) FROM alerts") == 2


async def test_a_chained_job_starts_after_its_parents_success_and_not_after_a_failure(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str
) -> None:
    parent = await insert_job(pg, "parent", start_at=JAN1, every=(1, "days"), criteria={"key": "p"})
    child = await insert_job(pg, "child", kind="chained", parent_id=parent, criteria={"key": "c"})
    paused = await insert_job(pg, "paused child", kind="chained", parent_id=parent, active=False)
    work = runner(pg, redis, _settings(redis_url, database_url))
    sched = scheduler(pg)

    # the parent's run fails (it raises): nothing starts
    await redis.set("probe:raise", 1)
    await sched.tick(JAN1)
    (failed,) = await runs(pg, parent)
    await work.run(failed["id"])
    failed = (await runs(pg, parent))[0]
    assert failed["status"] == "failed"
    assert "told to raise" in failed["error"]
    assert await runs(pg, child) == []

    # its retry succeeds: the chained job starts, as of the parent's process-now, once
    await redis.delete("probe:raise")
    retried = await retry(pg, failed["id"])
    await work.run(retried)
    (started,) = await runs(pg, child)
    assert (started["trigger"], started["parent_run_id"], started["process_now"]) == (
        "chain",
        retried,
        JAN1,
    )
    assert started["criteria"] == {"key": "c"}
    assert started["id"] in await queued(pg)
    # a second retry of the same failed run does not start it again
    await work.run(await retry(pg, failed["id"]))
    assert len(await runs(pg, child)) == 1
    assert await runs(pg, paused) == []

    # the next day's run succeeds at once: one more run of the chained job
    await sched.tick(JAN1 + DAY)
    await work.run((await runs(pg, parent))[-1]["id"])
    assert [r["process_now"] for r in await runs(pg, child)] == [JAN1, JAN1 + DAY]


async def test_a_retry_re_does_only_the_failed_items(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str
) -> None:
    job_id = await insert_job(
        pg, "items", kind="once", start_at=JAN1, criteria={"key": "i", "units": 5, "broken": 3}
    )
    work = runner(pg, redis, _settings(redis_url, database_url))
    await redis.set("probe:broken", 1)
    await scheduler(pg).tick(JAN1)
    (run,) = await runs(pg, job_id)
    await work.run(run["id"])
    (run,) = await runs(pg, job_id)
    # finished with a failed item: failed, with the counts; the item kept with its error
    assert (run["status"], run["total"], run["succeeded"], run["failed"]) == ("failed", 5, 4, 1)
    assert run["error"] is None
    item = await pg.fetchrow("SELECT * FROM job_run_items WHERE run_id = $1", run["id"])
    assert (item["object_type"], item["object_id"], item["error"]) == (
        "unit",
        "3",
        "unit 3 is broken",
    )
    alert = await pg.fetchrow("SELECT * FROM alerts WHERE alert_key = $1", f"job-run:{run['id']}")
    assert alert["process"] == "job.probe"

    await redis.delete("probe:broken")
    again = await retry(pg, run["id"])
    await work.run(again)
    done = (await runs(pg, job_id))[-1]
    assert (done["status"], done["total"], done["succeeded"], done["failed"]) == (
        "succeeded",
        1,
        1,
        0,
    )
    assert await pg.fetchval("SELECT retried_by FROM job_run_items") == again
    units = await pg.fetch("SELECT object_id FROM activity_log WHERE process = 'probe'")
    assert sorted(u["object_id"] for u in units) == [f"i:{n}" for n in range(5)]


async def test_the_job_queue_schema_is_installed_and_upgraded_by_migrating(
    pg: asyncpg.Pool, database_url: str
) -> None:
    async with pg.acquire() as conn:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'pgq%'")
        }
        assert {"pgqueuer", "pgqueuer_log", "pgqueuer_statistics"} <= tables
        # a schema older than the installed PgQueuer's (an index it declares is missing)
        await conn.execute("DROP INDEX pgqueuer_ep_ea_idx")
    assert await db.migrate_url(database_url) == []
    found = await pg.fetchval(
        "SELECT count(*) FROM pg_indexes WHERE indexname = 'pgqueuer_ep_ea_idx'"
    )
    assert found == 1


# --- the billing job ------------------------------------------------------------------------

# The cycle of a monthly/day-1 profile in Europe/Ljubljana holding 2026-11-29 (the test clock's
# onboarding day) ends at local midnight of 1 December.
DEC = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)


async def test_the_billing_job_bills_what_its_criteria_select_with_history_and_retry(
    admin: Admin, redis: Redis, redis_url: str, database_url: str
) -> None:
    pool = admin.pool
    business = [await postpaid_customer(admin, f"3864070000{i}", plan="basic") for i in range(3)]
    other = await postpaid_customer(admin, "38640700009", plan="basic")
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE customers SET customer_type = 'business' WHERE id = ANY($1::bigint[])",
            [c["id"] for c in business],
        )
    for n, customer in enumerate([*business, other]):
        await store_usage(
            pool,
            customer["account_id"],
            (f"e:{n}", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "1.00"),
        )
    profiles = [await profile_of(pool, c["id"]) for c in business]
    # no default tax: the third business customer's profile names none, so its invoice fails
    await pool.execute(
        "UPDATE billing_profiles SET tax = 'VAT22' WHERE id = ANY($1::bigint[])", profiles[:2]
    )
    job_id = await insert_job(
        pool,
        "monthly billing",
        job_type="billing",
        start_at=DEC,
        every=(1, "months"),
        time_zone="Europe/Ljubljana",
        criteria={"customer_types": ["business"]},
    )
    assert await scheduler(pool).tick(DEC + HOUR) == 1
    (run,) = await runs(pool, job_id)
    assert run["process_now"] == DEC
    work = runner(pool, redis, settings(redis_url, database_url, default_tax=None))
    assert await work.run(run["id"]) == "finished"

    (run,) = await runs(pool, job_id)
    assert (run["status"], run["total"], run["succeeded"], run["failed"]) == ("failed", 3, 2, 1)
    assert run["error"] is None
    invoices = await pool.fetch(
        "SELECT id, billing_profile_id, status, number, total FROM invoices ORDER BY id"
    )
    assert [(i["billing_profile_id"], i["status"]) for i in invoices] == [
        (profiles[0], "billing"),
        (profiles[1], "billing"),
        (profiles[2], "failed"),
    ]
    assert invoices[0]["total"] == invoices[1]["total"] >= Decimal("1.22")  # usage + VAT
    item = await pool.fetchrow("SELECT * FROM job_run_items WHERE run_id = $1", run["id"])
    assert (item["object_type"], item["object_id"]) == ("invoice", str(invoices[2]["id"]))
    assert "no tax" in item["error"]
    # the customer the criteria leave out is not billed: its bill is still the active one
    other_profile = await profile_of(pool, other["id"])
    assert (
        await pool.fetchval(
            "SELECT status FROM bills WHERE billing_profile_id = $1 ORDER BY id LIMIT 1",
            other_profile,
        )
        == "active"
    )

    # the tax is fixed; the retry makes that invoice again, and only that one
    await pool.execute("UPDATE billing_profiles SET tax = 'VAT22' WHERE id = $1", profiles[2])
    again = await retry(pool, run["id"])
    assert await work.run(again) == "finished"
    done = (await runs(pool, job_id))[-1]
    assert (done["status"], done["total"], done["succeeded"], done["failed"]) == (
        "succeeded",
        1,
        1,
        0,
    )
    remade = await pool.fetchrow(
        "SELECT status, number FROM invoices WHERE id = $1", invoices[2]["id"]
    )
    assert (remade["status"], remade["number"]) == ("billing", "INV-000003")
    assert await pool.fetchval("SELECT count(*) FROM invoices") == 3


async def test_the_sweep_queues_again_only_runs_nobody_holds(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str
) -> None:
    for name in ("lost", "held", "waiting"):
        await insert_job(pg, name, kind="once", start_at=JAN1, criteria={"key": name})
    sched = scheduler(pg)
    await sched.tick(JAN1)
    lost, held, waiting = (r["id"] for r in await runs(pg))
    # lost: its worker started it and gave it up (its queue entry gone, no lock on it);
    # held: a live worker runs it (its entry gone too, but it holds the run's lock)
    await pg.execute(
        "UPDATE job_runs SET status = 'running', attempts = 1 WHERE id = ANY($1::bigint[])",
        [lost, held],
    )
    await pg.execute(
        "DELETE FROM pgqueuer WHERE payload = ANY($1::bytea[])", [b"%d" % lost, b"%d" % held]
    )
    async with pg.acquire() as worker:
        await worker.fetchval(Q.hold_run, LOCK_BASE, held)
        try:
            assert await sched.sweep() == 1
            assert sorted(await queued(pg)) == sorted([waiting, lost])
            assert await sched.sweep() == 0  # queued now: not twice
        finally:
            await worker.fetchval(Q.release_run, LOCK_BASE, held)
    # the lost run is resumed by the next worker
    assert await runner(pg, redis, _settings(redis_url, database_url)).run(lost) == "finished"
    lost_run = next(r for r in await runs(pg) if r["id"] == lost)
    assert (lost_run["status"], lost_run["attempts"]) == ("succeeded", 2)


async def test_the_queue_log_is_trimmed_to_its_days_once_an_hour(pg: asyncpg.Pool) -> None:
    """PgQueuer logs every queue entry's life; the scheduler keeps `queue_log_days` of it."""
    await pg.execute(
        "INSERT INTO pgqueuer_log (created, job_id, status, priority, entrypoint)"
        " SELECT now() - make_interval(days => d, hours => -1), d, 'successful', 0,"
        " 'tarif_job_run'"
        " FROM generate_series(1, 10) AS d"
    )
    clock = {"now": JAN1}
    sched = Scheduler(
        pg, BatchMetrics(CollectorRegistry()), clock=lambda: clock["now"], queue_log_days=7
    )
    await sched.work()  # the first turn trims: entries over 7 days old go (8, 9, 10)
    left = await pg.fetch("SELECT job_id FROM pgqueuer_log ORDER BY job_id")
    assert [r["job_id"] for r in left] == list(range(1, 8))
    await pg.execute(
        "UPDATE pgqueuer_log SET created = created - interval '1 day' WHERE job_id = 7"
    )
    clock["now"] = JAN1 + timedelta(minutes=30)
    await sched.work()  # within the hour: not again
    assert await pg.fetchval("SELECT count(*) FROM pgqueuer_log") == 7
    clock["now"] = JAN1 + timedelta(hours=1)
    await sched.work()
    assert await pg.fetchval("SELECT count(*) FROM pgqueuer_log") == 6


async def test_progress_and_open_alerts_are_visible_while_a_run_goes(
    pg: asyncpg.Pool, redis: Redis, redis_url: str, database_url: str
) -> None:
    await insert_job(pg, "slow", kind="once", start_at=JAN1, criteria={"units": 8, "pause": 0.25})
    await scheduler(pg).tick(JAN1)
    (run,) = await runs(pg)
    registry = CollectorRegistry()
    work = runner(pg, redis, _settings(redis_url, database_url), registry=registry)
    going = asyncio.create_task(work.run(run["id"]))

    def gauge(count: str) -> float | None:
        labels = {"job_type": "probe", "count": count}
        return registry.get_sample_value("tarif_job_running_items", labels)

    async def halfway() -> bool:
        row = await pg.fetchrow(
            "SELECT status, total, succeeded FROM job_runs WHERE id = $1", run["id"]
        )
        return row["status"] == "running" and row["total"] == 8 and 0 < row["succeeded"] < 8

    deadline = asyncio.get_running_loop().time() + 5
    while not await halfway():
        assert asyncio.get_running_loop().time() < deadline, "no progress seen while running"
        await asyncio.sleep(0.05)
    assert gauge("total") == 8
    assert 0 < gauge("succeeded") < 8
    assert await going == "finished"
    assert (gauge("total"), gauge("succeeded")) == (0, 0)  # nothing going on any more

    alerts = CollectorRegistry()
    sched = scheduler(pg, alerts)
    await pg.execute(
        "INSERT INTO alerts (alert_key, severity, process, message) VALUES"
        " ('a', 'warning', 'p', 'm'), ('b', 'critical', 'p', 'm'),"
        " ('c', 'critical', 'p', 'm'), ('d', 'critical', 'p', 'm')"
    )
    await pg.execute("UPDATE alerts SET acknowledged_at = now() WHERE alert_key = 'd'")
    await sched.refresh_alerts()
    values = {
        severity: alerts.get_sample_value("tarif_alerts_open", {"severity": severity})
        for severity in ("warning", "critical")
    }
    assert values == {"warning": 1, "critical": 2}
