"""The jobs endpoints of the admin API: jobs (create, list, edit, pause, resume, delete), run
now (one queued run, one queue entry; process-now refused in production), the run history
with its failed items, retry, alerts and the activity log. Every refusal writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tarif_jobs.failures import record_failure
from tarif_jobs.runs import ItemRef
from tests.integration.admin_harness import Admin
from tests.integration.jobs_harness import insert_run, queued, utc

PROBLEM = "application/problem+json"


# an export's own criteria: what it sends and where
EXPORT = {"data": "invoices", "destinations": [{"type": "email", "to": ["finance@example.com"]}]}


def job_body(name: str = "nightly billing", **changes: Any) -> dict[str, Any]:
    """A daily billing job at 02:00 in Ljubljana since 2020, for business customers."""
    body: dict[str, Any] = {
        "job_type": "billing",
        "name": name,
        "description": "bills the cycles that ended",
        "schedule": {
            "kind": "every",
            "start_at": "2020-01-01T02:00:00+01:00",
            "every_n": 1,
            "every_unit": "days",
            "time_zone": "Europe/Ljubljana",
        },
        "criteria": {"customer_types": ["business"], "payment_type": "postpaid"},
    }
    return body | changes


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def create(admin: Admin, body: dict[str, Any], role: str = "operator") -> dict[str, Any]:
    response = await admin.call("POST", "/v1/jobs", role, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def audited(admin: Admin, object_type: str) -> list[str]:
    rows = await admin.pool.fetch(
        "SELECT action FROM audit_log WHERE object_type = $1 ORDER BY id", object_type
    )
    return [row["action"] for row in rows]


def use_environment(admin: Admin, environment: str) -> None:
    settings = admin.app.state.settings
    admin.app.state.settings = settings.model_copy(update={"environment": environment})


async def test_jobs_are_created_listed_edited_paused_resumed_and_deleted(admin: Admin) -> None:
    before = datetime.now(UTC)
    daily = await create(admin, job_body())

    # a repeating job whose start has passed starts at its next occurrence, 02:00 local
    next_run = datetime.fromisoformat(daily["next_run_at"])
    assert before < next_run <= before + timedelta(days=1)
    assert next_run.astimezone(ZoneInfo("Europe/Ljubljana")).time().isoformat() == "02:00:00"
    assert (daily["status"], daily["active"], daily["runs_left"]) == ("active", True, -1)
    assert daily["criteria"] == {"customer_types": ["business"], "payment_type": "postpaid"}
    assert daily["schedule"]["time_zone"] == "Europe/Ljubljana"
    assert daily["last_run"] is None
    start = later(days=3)
    once = await create(
        admin,
        job_body("year-end export", job_type="export", criteria=EXPORT,
                 schedule={"kind": "once", "start_at": start}),
    )  # fmt: skip
    assert datetime.fromisoformat(once["next_run_at"]) == datetime.fromisoformat(start)
    chained = await create(
        admin,
        job_body("invoices after billing", job_type="invoicing",
                 schedule={"kind": "chained", "parent": daily["id"]}),
    )  # fmt: skip
    assert chained["next_run_at"] is None
    assert chained["status"] == "active"
    assert (chained["schedule"]["parent"], chained["schedule"]["parent_name"]) == (
        daily["id"],
        "nightly billing",
    )

    # lists: status, type, a part of the name, sorts, pages
    listed = (await admin.call("GET", "/v1/jobs", "auditor")).json()
    assert [j["id"] for j in listed["items"]] == [daily["id"], once["id"], chained["id"]]
    assert listed["next_cursor"] is None
    by_type = (await admin.call("GET", "/v1/jobs?job_type=invoicing", "auditor")).json()
    assert [j["id"] for j in by_type["items"]] == [chained["id"]]
    by_name = (await admin.call("GET", "/v1/jobs?name=BILLING", "auditor")).json()
    assert [j["id"] for j in by_name["items"]] == [daily["id"], chained["id"]]
    by_next = (await admin.call("GET", "/v1/jobs?sort=next_run_at&limit=2")).json()
    assert [j["id"] for j in by_next["items"]] == [daily["id"], once["id"]]
    rest = await admin.call(
        "GET", f"/v1/jobs?sort=next_run_at&limit=2&cursor={by_next['next_cursor']}"
    )
    assert [j["id"] for j in rest.json()["items"]] == [chained["id"]]
    by_name = (await admin.call("GET", "/v1/jobs?sort=-name")).json()
    assert [j["name"] for j in by_name["items"]] == [
        "year-end export", "nightly billing", "invoices after billing",
    ]  # fmt: skip

    # an edit of the schedule computes the next run again
    every_two_hours = {"kind": "every", "start_at": later(hours=5), "every_n": 2,
                       "every_unit": "hours"}  # fmt: skip
    edited = await admin.call(
        "PATCH", f"/v1/jobs/{daily['id']}", "operator",
        json={"schedule": every_two_hours, "description": "every two hours"},
    )  # fmt: skip
    assert edited.status_code == 200, edited.text
    edited_job = edited.json()
    assert edited_job["next_run_at"] is not None
    assert datetime.fromisoformat(edited_job["next_run_at"]) == datetime.fromisoformat(
        every_two_hours["start_at"]
    )
    assert edited_job["description"] == "every two hours"
    assert edited_job["criteria"] == daily["criteria"]  # untouched

    # pause: no next run, twice is once; resume: from now, the missed times not made up
    paused = (await admin.call("POST", f"/v1/jobs/{daily['id']}/pause", "operator")).json()
    assert (paused["status"], paused["active"], paused["next_run_at"]) == ("paused", False, None)
    assert (await admin.call("POST", f"/v1/jobs/{daily['id']}/pause")).json() == paused
    assert [
        j["id"] for j in (await admin.call("GET", "/v1/jobs?status=paused")).json()["items"]
    ] == [daily["id"]]
    await admin.call("PATCH", f"/v1/jobs/{daily['id']}", json={"schedule": {
        "kind": "every", "start_at": "2021-03-01T10:15:00Z", "every_n": 90,
        "every_unit": "minutes"}})  # fmt: skip
    now = datetime.now(UTC)
    resumed = (await admin.call("POST", f"/v1/jobs/{daily['id']}/resume", "operator")).json()
    assert resumed["status"] == "active"
    resumed_at = datetime.fromisoformat(resumed["next_run_at"])
    assert now < resumed_at <= now + timedelta(minutes=90)
    assert (resumed_at - utc(2021, 3, 1, 10, 15)) % timedelta(minutes=90) == timedelta(0)

    # delete: refused while a job is chained after it; runs stay in the history
    run_id = await insert_run(admin.pool, daily)
    refused = await admin.call("DELETE", f"/v1/jobs/{daily['id']}", "operator")
    assert refused.status_code == 409
    assert "invoices after billing" in refused.json()["detail"]
    assert (await admin.call("DELETE", f"/v1/jobs/{chained['id']}", "operator")).status_code == 204
    assert (await admin.call("DELETE", f"/v1/jobs/{daily['id']}", "operator")).status_code == 204
    assert (await admin.call("GET", f"/v1/jobs/{daily['id']}")).status_code == 404
    run = (await admin.call("GET", f"/v1/job-runs/{run_id}")).json()
    assert (run["job_id"], run["job_name"]) == (None, "nightly billing")
    assert await audited(admin, "job") == [
        "job.create", "job.create", "job.create", "job.update", "job.pause", "job.update",
        "job.resume", "job.delete", "job.delete",
    ]  # fmt: skip


async def test_a_finished_one_off_and_runs_left(admin: Admin) -> None:
    once = await create(
        admin, job_body("once", schedule={"kind": "once", "start_at": later(hours=1)})
    )
    # its time came and the scheduler ran it: no due time left
    await admin.pool.execute(
        "UPDATE jobs SET start_at = now() - interval '1 minute', next_run_at = NULL WHERE id = $1",
        once["id"],
    )
    await insert_run(admin.pool, once)
    assert (await admin.call("GET", f"/v1/jobs/{once['id']}")).json()["status"] == "finished"
    finished = (await admin.call("GET", "/v1/jobs?status=finished")).json()["items"]
    assert [j["id"] for j in finished] == [once["id"]]
    # paused and resumed: it ran already, so it stays finished
    await admin.call("POST", f"/v1/jobs/{once['id']}/pause")
    resumed = (await admin.call("POST", f"/v1/jobs/{once['id']}/resume")).json()
    assert (resumed["status"], resumed["next_run_at"]) == ("finished", None)
    assert resumed["last_run"]["status"] == "succeeded"

    # a one-off paused past its time that never ran runs at once when resumed
    never = await create(
        admin, job_body("never ran", schedule={"kind": "once", "start_at": later(hours=1)})
    )
    await admin.call("POST", f"/v1/jobs/{never['id']}/pause")
    await admin.pool.execute(
        "UPDATE jobs SET start_at = now() - interval '1 hour' WHERE id = $1", never["id"]
    )
    now = datetime.now(UTC)
    resumed = (await admin.call("POST", f"/v1/jobs/{never['id']}/resume")).json()
    assert now <= datetime.fromisoformat(resumed["next_run_at"]) <= datetime.now(UTC)

    counted = await create(admin, job_body("three times", runs_left=3))
    done = (await admin.call("PATCH", f"/v1/jobs/{counted['id']}", json={"runs_left": 0})).json()
    assert (done["status"], done["next_run_at"]) == ("finished", None)
    again = (await admin.call("PATCH", f"/v1/jobs/{counted['id']}", json={"runs_left": 2})).json()
    assert again["status"] == "active"
    assert datetime.fromisoformat(again["next_run_at"]) > datetime.now(UTC)


def bad(**changes: Any) -> dict[str, Any]:
    return job_body("bad", **changes)


def schedule(**changes: Any) -> dict[str, Any]:
    return job_body()["schedule"] | changes


BAD_BODIES = [
    ("unknown job type", bad(job_type="mining"), "body.job_type"),
    ("one-off in the past", bad(schedule={"kind": "once", "start_at": "2020-01-01T00:00:00Z"}),
     "body.schedule.start_at"),
    ("unknown attribute", bad(criteria={"attributes": {"colour": "red"}}),
     "body.criteria.attributes.colour"),
    ("unknown customer type", bad(criteria={"customer_types": ["business", "martian"]}),
     "body.criteria.customer_types.1"),
    ("unknown criterion", bad(criteria={"ledgers": ["4000"]}), "body.criteria.ledgers"),
    ("bad payment type", bad(criteria={"payment_type": "barter"}), "body.criteria.payment_type"),
    ("bad time zone", bad(schedule=schedule(time_zone="Mars/Olympus")),
     "body.schedule.time_zone"),
    ("every 0 days", bad(schedule=schedule(every_n=0)), "body.schedule.every_n"),
    ("every n without unit", bad(schedule=schedule(every_unit=None)),
     "body.schedule.every_unit"),
    ("no start", bad(schedule=schedule(start_at=None)), "body.schedule.start_at"),
    ("naive start", bad(schedule=schedule(start_at="2030-01-01T00:00:00")),
     "body.schedule.start_at"),
    ("a one-off that repeats", bad(schedule={"kind": "once", "start_at": "2030-01-01T00:00:00Z",
                                             "every_n": 2}), "body.schedule.every_n"),
    ("chained without parent", bad(schedule={"kind": "chained"}), "body.schedule.parent"),
    ("chained with a start", bad(schedule={"kind": "chained", "parent": 1,
                                           "start_at": "2030-01-01T00:00:00Z"}),
     "body.schedule.start_at"),
    ("unknown parent", bad(schedule={"kind": "chained", "parent": 999999}),
     "body.schedule.parent"),
    ("no runs", bad(runs_left=0), "body.runs_left"),
    ("runs below -1", bad(runs_left=-2), "body.runs_left"),
    ("past the year 9999", bad(schedule=schedule(every_n=100_000, every_unit="years")),
     "body.schedule"),
    ("empty name", job_body(""), "body.name"),
]  # fmt: skip


async def test_bad_input_is_a_clear_422_and_nothing_is_written(admin: Admin) -> None:
    await admin.pool.execute("INSERT INTO custom_attributes (name, type) VALUES ('tier', 'string')")

    for case, body, field in BAD_BODIES:
        response = await admin.call("POST", "/v1/jobs", "operator", json=body)

        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert (problem["field"], bool(problem["detail"])) == (field, True), (case, problem)
    assert await admin.count("jobs") == 0
    assert await admin.count("audit_log") == 0


async def test_a_taken_name_is_a_conflict_and_criteria_on_declared_attributes_pass(
    admin: Admin,
) -> None:
    await admin.pool.execute(
        "INSERT INTO custom_attributes (name, type) VALUES ('tier', 'integer')"
    )
    first = await create(admin, job_body(criteria={"attributes": {"tier": 2}}))
    assert first["criteria"] == {"attributes": {"tier": 2}}
    wrong = await admin.call(
        "POST", "/v1/jobs", json=job_body("x", criteria={"attributes": {"tier": "gold"}})
    )
    assert (wrong.status_code, wrong.json()["field"]) == (422, "body.criteria.attributes.tier")
    taken = await admin.call("POST", "/v1/jobs", json=job_body())
    assert taken.status_code == 409
    assert "nightly billing" in taken.json()["detail"]
    other = await create(admin, job_body("other"))
    renamed = await admin.call("PATCH", f"/v1/jobs/{other['id']}", json={"name": "nightly billing"})
    assert renamed.status_code == 409
    nulled = await admin.call("PATCH", f"/v1/jobs/{other['id']}", json={"name": None})
    assert (nulled.status_code, nulled.json()["field"]) == (422, "body.name")
    retyped = await admin.call("PATCH", f"/v1/jobs/{other['id']}", json={"job_type": "export"})
    assert retyped.status_code == 422
    assert await admin.count("jobs") == 2
    assert (await admin.call("GET", f"/v1/jobs/{other['id']}")).json()["name"] == "other"


async def test_a_chain_that_would_loop_is_refused(admin: Admin) -> None:
    a = await create(admin, job_body("A"))
    b = await create(admin, job_body("B", schedule={"kind": "chained", "parent": a["id"]}))
    c = await create(admin, job_body("C", schedule={"kind": "chained", "parent": b["id"]}))
    audit_rows = await admin.count("audit_log")

    for parent, loop in (
        (b["id"], f"job {a['id']} -> job {b['id']} -> job {a['id']}"),
        (c["id"], f"job {a['id']} -> job {b['id']} -> job {c['id']} -> job {a['id']}"),
    ):
        looped = await admin.call(
            "PATCH", f"/v1/jobs/{a['id']}", "operator",
            json={"schedule": {"kind": "chained", "parent": parent}},
        )  # fmt: skip
        assert looped.status_code == 409, looped.text
        assert looped.headers["content-type"] == PROBLEM
        assert loop in looped.json()["detail"]
    itself = await admin.call(
        "PATCH", f"/v1/jobs/{b['id']}", json={"schedule": {"kind": "chained", "parent": b["id"]}}
    )
    assert (itself.status_code, itself.json()["field"]) == (422, "body.schedule.parent")
    assert "itself" in itself.json()["detail"]

    assert (await admin.call("GET", f"/v1/jobs/{a['id']}")).json() == a
    assert await admin.count("audit_log") == audit_rows
    # chaining C after A instead (no loop) is fine
    moved = await admin.call(
        "PATCH", f"/v1/jobs/{c['id']}", json={"schedule": {"kind": "chained", "parent": a["id"]}}
    )
    assert moved.status_code == 200
    assert moved.json()["schedule"]["parent"] == a["id"]


async def test_run_now_queues_one_run_and_one_queue_entry(admin: Admin) -> None:
    use_environment(admin, "test")
    job = await create(admin, job_body())
    await admin.call("POST", f"/v1/jobs/{job['id']}/pause")  # a paused job runs on request too

    response = await admin.call(
        "POST", f"/v1/jobs/{job['id']}/runs", "operator",
        json={"process_now": "2026-03-31T22:00:00Z", "request_id": "month-end"},
    )  # fmt: skip

    assert response.status_code == 202, response.text
    run = response.json()
    assert (run["status"], run["trigger"], run["job_id"], run["job_type"]) == (
        "queued", "manual", job["id"], "billing",
    )  # fmt: skip
    assert datetime.fromisoformat(run["process_now"]) == utc(2026, 3, 31, 22)
    assert run["criteria"] == job["criteria"]
    assert run["requested_by"].startswith("key:tk_")
    assert run["progress"] == {"done": 0, "total": 0}
    assert (run["started_at"], run["duration_ms"], run["replayed"]) == (None, None, False)
    assert await queued(admin.pool) == [run["id"]]
    assert await admin.count("job_runs") == 1

    again = await admin.call(
        "POST", f"/v1/jobs/{job['id']}/runs", "operator",
        json={"process_now": "2026-03-31T22:00:00Z", "request_id": "month-end"},
    )  # fmt: skip
    assert again.status_code == 200
    assert again.json() == run | {"replayed": True}
    assert await queued(admin.pool) == [run["id"]]

    now = datetime.now(UTC)
    plain = await admin.call("POST", f"/v1/jobs/{job['id']}/runs", "operator")
    assert plain.status_code == 202
    assert now <= datetime.fromisoformat(plain.json()["process_now"]) <= datetime.now(UTC)
    assert await queued(admin.pool) == [run["id"], plain.json()["id"]]
    history = (await admin.call("GET", f"/v1/jobs/{job['id']}")).json()["last_run"]
    assert (history["id"], history["status"]) == (plain.json()["id"], "queued")

    too_early = await admin.call(
        "POST", f"/v1/jobs/{job['id']}/runs", json={"process_now": "0001-01-01T00:00:00+05:00"}
    )
    assert (too_early.status_code, too_early.json()["field"]) == (422, "body.process_now")
    missing = await admin.call("POST", "/v1/jobs/999999/runs", json={})
    assert missing.status_code == 404
    assert await admin.count("job_runs") == 2
    assert await audited(admin, "job") == ["job.create", "job.pause", "job.run", "job.run"]


async def test_production_refuses_a_process_now_date(admin: Admin) -> None:
    settings = admin.app.state.settings
    admin.app.state.settings = settings.model_copy(update={"environment": "production"})
    job = await create(admin, job_body())

    refused = await admin.call(
        "POST", f"/v1/jobs/{job['id']}/runs", json={"process_now": "2026-01-01T00:00:00Z"}
    )

    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert "production" in refused.json()["title"]
    assert await admin.count("job_runs") == 0
    assert await queued(admin.pool) == []
    # now (or a client's idea of now) is a run like any other
    close = await admin.call(
        "POST", f"/v1/jobs/{job['id']}/runs", json={"process_now": later(seconds=5)}
    )
    assert close.status_code == 202
    assert await admin.count("job_runs") == 1


async def test_the_history_is_filtered_and_paged(admin: Admin) -> None:
    billing = await create(admin, job_body())
    export = await create(admin, job_body("export", job_type="export", criteria=EXPORT))
    day = utc(2026, 5, 1, 2)
    ids = []
    for i in range(5):
        ids.append(
            await insert_run(
                admin.pool, billing, queued_at=day + timedelta(days=i), seconds=60 + i,
                status="failed" if i == 3 else "succeeded", counts=(10, 10 - (i == 3), i == 3),
            )
        )  # fmt: skip
    export_run = await insert_run(admin.pool, export, queued_at=day + timedelta(days=1, hours=1))
    running = await insert_run(admin.pool, billing, status="running", counts=(100, 40, 2))

    everything = (await admin.call("GET", "/v1/job-runs", "auditor")).json()
    assert [r["id"] for r in everything["items"]] == [running, export_run, *reversed(ids)]
    one = (await admin.call("GET", f"/v1/job-runs/{ids[3]}")).json()
    assert (one["status"], one["total"], one["succeeded"], one["failed"]) == ("failed", 10, 9, 1)
    assert one["duration_ms"] == 63_000
    assert one["progress"] == {"done": 10, "total": 10}
    live = (await admin.call("GET", f"/v1/job-runs/{running}")).json()
    assert live["progress"] == {"done": 42, "total": 100}
    assert live["finished_at"] is None
    assert live["duration_ms"] >= 0

    async def listed(query: str) -> list[int]:
        response = await admin.call("GET", f"/v1/job-runs?{query}")
        assert response.status_code == 200, response.text
        return [r["id"] for r in response.json()["items"]]

    assert await listed(f"job_id={export['id']}") == [export_run]
    assert await listed("job_type=export") == [export_run]
    assert await listed("status=failed") == [ids[3]]
    assert await listed("status=running") == [running]
    assert await listed("from=2026-05-02T00:00:00Z&to=2026-05-04T00:00:00Z") == [
        export_run, ids[2], ids[1],
    ]  # fmt: skip
    naive_from = "from=2026-05-03T00:00:00&to=2026-06-01T00:00:00Z"  # no zone: UTC
    assert await listed(f"job_id={billing['id']}&{naive_from}") == [ids[4], ids[3], ids[2]]
    pages, cursor = [], ""
    while True:
        page = (await admin.call("GET", f"/v1/job-runs?limit=3{cursor}")).json()
        pages.append([r["id"] for r in page["items"]])
        if page["next_cursor"] is None:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert [i for p in pages for i in p] == [running, export_run, *reversed(ids)]
    assert len(pages) == 3
    for query, field in (
        ("status=lost", "query.status"),
        ("from=2026-05-04T00:00:00Z&to=2026-05-02T00:00:00Z", "query.to"),
        ("cursor=bm9uZQ", "cursor"),
        ("from=0001-01-01T00:00:00%2B05:00", "query.from"),
        ("job", "query.job"),
    ):
        refused = await admin.call("GET", f"/v1/job-runs?{query}")
        assert (refused.status_code, refused.json()["field"]) == (422, field), query


async def test_failed_items_are_shown_and_only_failed_runs_are_retried(admin: Admin) -> None:
    job = await create(admin, job_body())
    failed = await insert_run(
        admin.pool, job, status="failed", counts=(3, 1, 2),
        items=(("billing_profile", "7", "Traceback ...\nValueError: no seller"),
               ("billing_profile", "12", "Traceback ...\nKeyError: 'VAT22'")),
    )  # fmt: skip
    clean = await insert_run(admin.pool, job, counts=(3, 3, 0))
    busy = await insert_run(admin.pool, job, status="running")
    broke = await insert_run(admin.pool, job, status="failed", error="ConnectionError: gone")

    items = (await admin.call("GET", f"/v1/job-runs/{failed}/items", "auditor")).json()
    assert [(i["object_type"], i["object_id"]) for i in items["items"]] == [
        ("billing_profile", "12"), ("billing_profile", "7"),
    ]  # fmt: skip
    assert items["items"][1]["error"] == "Traceback ...\nValueError: no seller"
    assert items["items"][1]["retried_by"] is None
    first = (await admin.call("GET", f"/v1/job-runs/{failed}/items?limit=1")).json()
    rest = await admin.call(
        "GET", f"/v1/job-runs/{failed}/items?limit=1&cursor={first['next_cursor']}"
    )
    assert [i["object_id"] for i in rest.json()["items"]] == ["7"]
    assert (await admin.call("GET", "/v1/job-runs/999999/items")).status_code == 404
    assert (await admin.call("GET", f"/v1/job-runs/{failed}")).json()["items_to_retry"] == 2

    for run_id, reason in ((clean, "no failed item"), (busy, "still running")):
        refused = await admin.call("POST", f"/v1/job-runs/{run_id}/retry", "operator")
        assert refused.status_code == 409, refused.text
        assert reason in refused.json()["detail"]
    assert await admin.count("job_runs") == 4

    retried = await admin.call(
        "POST", f"/v1/job-runs/{failed}/retry", "operator", json={"request_id": "fix-7"}
    )
    assert retried.status_code == 202, retried.text
    retry = retried.json()
    assert (retry["trigger"], retry["retry_of"], retry["status"]) == ("retry", failed, "queued")
    original = (await admin.call("GET", f"/v1/job-runs/{failed}")).json()
    assert retry["process_now"] == original["process_now"]
    assert retry["criteria"] == original["criteria"]
    assert await queued(admin.pool) == [retry["id"]]
    replay = await admin.call("POST", f"/v1/job-runs/{failed}/retry", json={"request_id": "fix-7"})
    assert (replay.status_code, replay.json()["id"]) == (200, retry["id"])
    pending = await admin.call("POST", f"/v1/job-runs/{failed}/retry")
    assert pending.status_code == 409
    assert f"run {retry['id']}" in pending.json()["detail"]

    # the worker takes both items and finishes the retry: nothing is left to retry
    await admin.pool.execute(
        "UPDATE job_run_items SET retried_by = $1 WHERE run_id = $2", retry["id"], failed
    )
    await admin.pool.execute("UPDATE job_runs SET status = 'succeeded' WHERE id = $1", retry["id"])
    done = await admin.call("POST", f"/v1/job-runs/{failed}/retry")
    assert done.status_code == 409
    assert "taken by a retry" in done.json()["detail"]

    # a run that failed as a whole (no failed item) is retried whole, once with success
    whole = await admin.call("POST", f"/v1/job-runs/{broke}/retry")
    assert whole.status_code == 202
    await admin.pool.execute(
        "UPDATE job_runs SET status = 'succeeded' WHERE id = $1", whole.json()["id"]
    )
    twice = await admin.call("POST", f"/v1/job-runs/{broke}/retry")
    assert twice.status_code == 409
    assert (await admin.call("POST", "/v1/job-runs/999999/retry")).status_code == 404
    assert (await admin.call("POST", f"/v1/job-runs/{failed}/retry", "auditor")).status_code == 403
    assert await queued(admin.pool) == [retry["id"], whole.json()["id"]]
    assert await audited(admin, "job_run") == ["job_run.retry", "job_run.retry"]


async def test_alerts_are_listed_and_acknowledged_once(admin: Admin) -> None:
    async with admin.pool.acquire() as conn:
        first = await record_failure(
            conn, "billing", ItemRef("billing_profile", "7"), "no seller", cause="settings"
        )
        await record_failure(conn, "billing", ItemRef("billing_profile", "7"), "no seller again")
        second = await record_failure(
            conn, "email.invoice", None, "smtp: refused", severity="critical", alert_key="smtp"
        )

    listed = (await admin.call("GET", "/v1/alerts", "auditor")).json()["items"]
    assert [(a["id"], a["status"], a["occurrences"]) for a in listed] == [
        (second, "open", 1), (first, "open", 2),
    ]  # fmt: skip
    assert listed[1]["message"] == "no seller again"
    critical = (await admin.call("GET", "/v1/alerts?severity=critical")).json()["items"]
    assert [a["id"] for a in critical] == [second]
    assert [
        a["id"] for a in (await admin.call("GET", "/v1/alerts?process=billing")).json()["items"]
    ] == [first]

    assert (
        await admin.call("POST", f"/v1/alerts/{first}/acknowledge", "auditor")
    ).status_code == 403
    acked = await admin.call("POST", f"/v1/alerts/{first}/acknowledge", "operator")
    assert acked.status_code == 200, acked.text
    alert = acked.json()
    assert (alert["status"], alert["acknowledged_by"]) == (
        "acknowledged",
        f"key:{admin.keys['operator'][:11]}",
    )
    again = (await admin.call("POST", f"/v1/alerts/{first}/acknowledge", "admin")).json()
    assert again == alert  # the first acknowledgement stands
    assert (await admin.call("POST", "/v1/alerts/999999/acknowledge")).status_code == 404
    open_ = (await admin.call("GET", "/v1/alerts?status=open")).json()["items"]
    assert [a["id"] for a in open_] == [second]
    done = (await admin.call("GET", "/v1/alerts?status=acknowledged")).json()["items"]
    assert [a["id"] for a in done] == [first]
    assert await audited(admin, "alert") == ["alert.acknowledge"]
    # the same failure again raises a new alert
    async with admin.pool.acquire() as conn:
        third = await record_failure(conn, "billing", ItemRef("billing_profile", "7"), "still")
    assert third not in (first, second)


async def test_the_activity_log_is_filtered(admin: Admin) -> None:
    job = await create(admin, job_body())
    run_id = await insert_run(admin.pool, job, status="failed")
    async with admin.pool.acquire() as conn:
        await record_failure(conn, "billing", ItemRef("billing_profile", "7"), "a", run_id=run_id)
        await record_failure(conn, "billing", ItemRef("invoice", "INV-1"), "b", run_id=run_id)
        await record_failure(conn, "email.invoice", ItemRef("email", "3"), "c")
        await conn.execute(
            "INSERT INTO activity_log (level, process, message, at)"
            " VALUES ('info', 'scheduler', 'started', '2026-01-01T00:00:00Z')"
        )

    async def messages(query: str = "") -> list[str]:
        response = await admin.call("GET", f"/v1/activity-log?{query}", "auditor")
        assert response.status_code == 200, response.text
        return [e["message"] for e in response.json()["items"]]

    assert await messages() == ["started", "c", "b", "a"]
    assert await messages("process=billing") == ["b", "a"]
    assert await messages("object_type=invoice&object_id=INV-1") == ["b"]
    assert await messages("level=error") == ["c", "b", "a"]
    assert await messages(f"run_id={run_id}") == ["b", "a"]
    assert await messages("to=2026-06-01T00:00:00Z") == ["started"]
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert await messages(f"from={today.isoformat().replace('+00:00', 'Z')}") == ["c", "b", "a"]
    entry = (await admin.call("GET", "/v1/activity-log?limit=1&level=error")).json()
    assert entry["items"][0]["process"] == "email.invoice"
    assert entry["items"][0]["object_type"] == "email"
    rest = await admin.call("GET", f"/v1/activity-log?level=error&cursor={entry['next_cursor']}")
    assert [e["message"] for e in rest.json()["items"]] == ["b", "a"]
    assert (await admin.call("GET", "/v1/activity-log?level=panic")).status_code == 422
