"""`tarif jobs`, `tarif alerts` and `tarif activity` against real services: the same functions
as the admin API, refusals with exit code 2 and nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef
from tests.integration.admin_harness import Admin
from tests.integration.jobs_harness import insert_run, queued
from tests.integration.test_cli_output import Run, tarif  # noqa: F401 (the fixture)


async def test_jobs_are_managed_run_and_retried(
    admin: Admin,
    tarif: Run,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, out, err = await tarif(
        "jobs", "create", "--type", "billing", "--name", "nightly", "--start", "2020-01-01T02:00",
        "--every", "1", "days", "--time-zone", "Europe/Ljubljana",
        "--criteria", '{"customer_types": ["business"]}', "--json",
    )  # fmt: skip

    assert code == 0, err
    job = json.loads(out)
    next_run = datetime.fromisoformat(job["next_run_at"])
    assert next_run > datetime.now(UTC)
    assert next_run.astimezone(ZoneInfo("Europe/Ljubljana")).hour == 2  # 02:00 local, not UTC
    assert job["criteria"] == {"customer_types": ["business"]}
    code, out, _ = await tarif("jobs", "list")
    assert code == 0
    assert "nightly" in out
    assert "every 1 days from 2020-01-01 01:00:00 UTC (Europe/Ljubljana)" in out
    assert '{"customer_types": ["business"]}' in out

    # refusals: exit 2, the field named, nothing written
    for argv, says in (
        (("--type", "mining", "--name", "x", "--start", "2030-01-01T00:00"), "job_type"),
        (("--type", "billing", "--name", "x", "--start", "2020-01-01T00:00"), "start_at"),
        (("--type", "billing", "--name", "x", "--after", str(job["id"] + 99)), "parent"),
        (("--type", "billing", "--name", "x", "--start", "2030-01-01T00:00", "--criteria",
          '{"attributes": {"colour": "red"}}'), "criteria.attributes.colour"),
        (("--type", "billing", "--name", "x", "--start", "2030-01-01T00:00", "--criteria", "{"),
         "criteria"),
        (("--type", "billing", "--name", "nightly", "--start", "2030-01-01T00:00"), "nightly"),
    ):  # fmt: skip
        code, _, err = await tarif("jobs", "create", *argv)
        assert code == 2, (argv, err)
        assert says in err, (argv, err)
    assert await admin.count("jobs") == 1

    code, out, _ = await tarif("jobs", "pause", str(job["id"]))
    assert code == 0
    assert "status       paused" in out
    code, out, _ = await tarif("jobs", "resume", str(job["id"]))
    assert "status       active" in out

    # run now: "process now" refused in production, taken elsewhere
    monkeypatch.setenv("TARIF_ENVIRONMENT", "production")
    code, _, err = await tarif("jobs", "run", str(job["id"]), "--process-now", "2026-03-31T22:00")
    assert code == 2
    assert "production" in err
    assert await admin.count("job_runs") == 0
    monkeypatch.setenv("TARIF_ENVIRONMENT", "test")
    code, out, err = await tarif(
        "jobs", "run", str(job["id"]), "--process-now", "2026-03-31T22:00", "--json"
    )
    assert code == 0, err
    run = json.loads(out)
    assert (run["status"], run["trigger"], run["requested_by"]) == ("queued", "manual", "cli")
    assert datetime.fromisoformat(run["process_now"]) == datetime(2026, 3, 31, 22, tzinfo=UTC)
    assert await queued(admin.pool) == [run["id"]]
    code, out, _ = await tarif("jobs", "runs", "--job", str(job["id"]))
    assert code == 0
    assert "manual" in out
    assert "2026-03-31 22:00:00 UTC" in out

    # a failed run: its items with the full error, retried once
    error = "Traceback (most recent call last):\nValueError: no seller"
    failed = await insert_run(
        admin.pool, job, status="failed", counts=(2, 1, 1), items=(("billing_profile", "7", error),)
    )
    code, out, _ = await tarif("jobs", "run-items", str(failed))
    assert code == 0
    assert "billing_profile 7 (likely cause: the data)" in out
    assert "    ValueError: no seller" in out
    code, out, _ = await tarif("jobs", "runs", "--status", "failed")
    assert str(failed) in out
    assert "2/2" in out  # done (1 succeeded, 1 failed) of the total
    code, out, err = await tarif("jobs", "retry", str(failed))
    assert code == 0, err
    assert out.startswith("run ")
    assert f"retry of run {failed}" in out
    code, _, err = await tarif("jobs", "retry", str(failed))
    assert code == 2
    assert "not done yet" in err
    assert len(await queued(admin.pool)) == 2

    code, out, _ = await tarif("jobs", "delete", str(job["id"]))
    assert (code, out.strip()) == (0, f"job {job['id']} deleted")
    code, _, err = await tarif("jobs", "show", str(job["id"]))
    assert code == 2
    assert f"no job {job['id']}" in err


async def test_alerts_are_listed_and_acknowledged(admin: Admin, tarif: Run) -> None:  # noqa: F811
    async with admin.pool.acquire() as conn:
        alert = await record_failure(
            conn, "billing", ItemRef("billing_profile", "7"), "no seller name",
            cause="the seller settings are missing",
        )  # fmt: skip

    code, out, _ = await tarif("alerts", "--open")
    assert code == 0
    assert "billing_profile 7" in out
    assert "no seller name" in out
    code, out, _ = await tarif("alerts", "ack", str(alert))
    assert code == 0
    assert f"alert {alert} acknowledged by cli" in out
    code, out, _ = await tarif("alerts", "--open")
    assert out.strip() == "no alerts"
    code, out, _ = await tarif("alerts", "--json")
    (listed,) = json.loads(out)["items"]
    assert (listed["status"], listed["acknowledged_by"]) == ("acknowledged", "cli")
    code, _, err = await tarif("alerts", "ack", "999999")
    assert code == 2
    assert "no alert" in err

    code, out, _ = await tarif("activity", "--process", "billing")
    assert code == 0
    assert "the seller settings are missing" in out
    code, out, _ = await tarif("activity", "--process", "email")
    assert out.strip() == "no activity"
