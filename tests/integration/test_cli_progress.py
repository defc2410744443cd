"""Long commands show their progress on stderr, against real services: plain lines when stderr
is not a terminal (a CI log), a bar when it is (a pseudo-terminal), and stdout's answer, with
`--json` too, exactly as without progress."""

from __future__ import annotations

import asyncio
import json
import os
import select
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import yaml
from redis.asyncio import Redis

from tarif_cli import job_wait
from tarif_cli import main as cli
from tests.integration.admin_harness import Admin
from tests.integration.billing_harness import SELLER, postpaid_customer, store_usage
from tests.integration.harness import Engine, account, eur
from tests.integration.scheduler_harness import insert_job, runner
from tests.integration.scheduler_harness import settings as batch_settings
from tests.integration.test_cli_output import Run, tarif  # noqa: F401 (the fixture)


def accounts_file(tmp_path: Path, count: int, first: int = 0) -> Path:
    accounts = [
        account(f"pg{first + i}", f"3864070{first + i:04d}", eur("1.00")) for i in range(count)
    ]
    path = tmp_path / f"accounts-{first}.yaml"
    path.write_text(yaml.safe_dump({"accounts": accounts}))
    return path


def progress_lines(err: str, words: str) -> list[str]:
    return [line for line in err.splitlines() if words in line]


async def test_provision_prints_plain_progress_lines_and_the_same_answer(
    engine: Engine,
    tarif: Run,  # noqa: F811
    tmp_path: Path,
) -> None:
    path = accounts_file(tmp_path, 200)
    code, out, err = await tarif("provision", str(path), "--json")

    assert code == 0, err
    assert json.loads(out) == {  # stdout is the answer alone
        "file": str(path),
        "catalog_version": 0,
        "accounts": 200,
        "sharing_groups": 0,
    }
    assert progress_lines(err, "accounts") == [
        f"provisioned {n}/200 accounts" for n in range(20, 201, 20)
    ]
    assert "sharing groups" not in err  # none to provision: no line

    code, out, err = await tarif("provision", str(accounts_file(tmp_path, 3, first=1000)))
    assert code == 0
    assert out == (
        f"provisioned {tmp_path / 'accounts-1000.yaml'}: no catalog, 3 accounts, 0 sharing groups\n"
    )
    assert progress_lines(err, "accounts") == [
        "provisioned 1/3 accounts",
        "provisioned 2/3 accounts",
        "provisioned 3/3 accounts",
    ]


async def test_onboarding_sync_and_reconcile_report_their_accounts(
    pg: asyncpg.Pool,
    tarif: Run,  # noqa: F811
) -> None:
    async with pg.acquire() as conn:  # the migration's seed rows (pg empties every table)
        await conn.execute("INSERT INTO customer_types (name) VALUES ('residential'), ('business')")
    code, _, err = await tarif("provision", str(cli.DEMO))
    assert code == 0, err
    assert progress_lines(err, "customers")[-1] == "onboarded 4/4 customers"

    code, out, err = await tarif("sync")
    assert (code, out) == (
        0,
        "Redis rebuilt from Postgres: the catalog, 4 accounts, 0 sharing groups\n",
    )
    assert progress_lines(err, "accounts") == [f"synced {n}/4 accounts" for n in (1, 2, 3, 4)]

    code, out, err = await tarif("reconcile", "--json")
    assert code == 0
    assert json.loads(out)["differences"] == []
    assert progress_lines(err, "accounts")[-1] == "compared 4/4 accounts"


async def test_billing_run_reports_each_chunk_billed(
    admin: Admin,
    tarif: Run,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("name", "address", "city", "postcode", "country", "vat_id"):
        monkeypatch.setenv(f"TARIF_SELLER_{name.upper()}", getattr(SELLER, name))
    monkeypatch.setenv("TARIF_DEFAULT_TAX", "VAT22")
    monkeypatch.setenv("TARIF_BILLING_CHUNK", "1")  # one bill a chunk: a line each
    for msisdn in ("38640820001", "38640820002"):
        customer = await postpaid_customer(admin, msisdn, plan="basic")
        await store_usage(
            admin.pool,
            customer["account_id"],
            (f"e:{msisdn}", "voice", datetime(2026, 11, 20, 9, tzinfo=UTC), "10.00"),
        )

    code, out, err = await tarif("billing", "run", "--at", "2026-11-30T23:00:00+00:00", "--json")

    assert code == 0, err
    report = json.loads(out)
    assert (report["billed"], report["failed"]) == (2, 0)
    assert progress_lines(err, "bills") == ["billed 1/2 bills", "billed 2/2 bills"]


async def test_jobs_run_wait_follows_the_run_to_its_end(
    admin: Admin,
    redis: Redis,
    redis_url: str,
    database_url: str,
    tarif: Run,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(job_wait, "POLL", 0.05)
    job = await insert_job(
        admin.pool,
        "probe",
        kind="once",
        start_at=datetime(2030, 1, 1, tzinfo=UTC),
        active=False,
        # the worker writes its counts every second: a run of 1.5 s shows them on the way
        criteria={"units": 6, "pause": "0.3"},
    )
    worker = runner(admin.pool, redis, batch_settings(redis_url, database_url))

    async def work_the_queue(after: int = 0) -> None:
        """A batch worker: takes the run the command queues (after run `after`) and runs it."""
        deadline = time.monotonic() + 20
        newest = "SELECT max(id) FROM job_runs WHERE id > $1"
        while (run_id := await admin.pool.fetchval(newest, after)) is None:
            assert time.monotonic() < deadline, "the command queued no run"
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the command sees it queued first
        assert await worker.run(run_id) == "finished"

    command = asyncio.ensure_future(tarif("jobs", "run", str(job), "--wait", "--json"))
    await work_the_queue()
    code, out, err = await asyncio.wait_for(command, 20)

    assert code == 0, err
    run = json.loads(out)  # the finished run, the same document as `jobs run-show`
    assert (run["status"], run["progress"], run["replayed"]) == (
        "succeeded",
        {"done": 6, "total": 6},
        False,
    )
    lines = progress_lines(err, f"run {run['id']} (probe) did")
    assert lines[-1] == f"run {run['id']} (probe) did 6/6 items"
    assert len(lines) >= 2, err  # seen on its way, not only at the end

    # a run that fails: exit 1; a retry nobody takes: given up after --timeout, exit 1
    await redis.set("probe:raise", 1)
    quick = await insert_job(
        admin.pool, "quick", kind="once", start_at=datetime(2030, 1, 1, tzinfo=UTC), active=False
    )
    command = asyncio.ensure_future(tarif("jobs", "run", str(quick), "--wait"))
    await work_the_queue(after=run["id"])
    code, out, err = await asyncio.wait_for(command, 20)
    assert code == 1
    assert out.startswith(f"run {run['id'] + 1}: failed")
    failed = run["id"] + 1
    code, out, err = await tarif("jobs", "retry", str(failed), "--wait", "--timeout", "0.2")
    assert code == 1
    assert out.startswith(f"run {failed + 1}: queued")
    assert f"tarif: run {failed + 1} is queued after 0.2 s" in err


async def test_a_terminal_gets_a_bar_and_stdout_stays_json(
    engine: Engine, redis_url: str, database_url: str, tmp_path: Path
) -> None:
    path = accounts_file(tmp_path, 300)
    leader, follower = os.openpty()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR")
    }
    env |= {
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TARIF_STATE_DIR": str(tmp_path / "state"),
        "TERM": "xterm-256color",
        "COLUMNS": "100",
    }
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tarif_cli.main", "provision", str(path), "--json",
            stdout=asyncio.subprocess.PIPE, stderr=follower, env=env,
        )  # fmt: skip
        os.close(follower)
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        drawn = await asyncio.to_thread(read_all, leader)
    finally:
        os.close(leader)

    assert process.returncode == 0, drawn
    assert json.loads(out) == {
        "file": str(path),
        "catalog_version": 0,
        "accounts": 300,
        "sharing_groups": 0,
    }
    assert "provisioned 300/300 accounts" in drawn
    assert "━" in drawn
    assert "\x1b[" in drawn  # drawn for a terminal, not plain lines
    assert "provisioned 30/300 accounts\r\n" not in drawn


def read_all(fd: int) -> str:
    """What a pseudo-terminal got, once its writer closed it."""
    chunks = []
    while select.select([fd], [], [], 5)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
