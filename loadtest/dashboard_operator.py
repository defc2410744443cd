"""The operator's side of the dashboard's load run, over the admin API: billing that fails for
want of a tax, the tax added and the failed runs retried, billing one month further every
15 s, runs of the other default jobs, alerts acknowledged; and customers browsed meanwhile."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from loadtest.dashboard_traffic import CUSTOMER_TYPES, Traffic

# the default tax (TARIF_DEFAULT_TAX), added by the operator once billing has failed for it
TAX = "vat-si"
# the default jobs the migrations create, run besides billing (docs/jobs.md)
OTHER_JOBS = ("purchase_check", "plan_transition", "contract_change", "deferred_activation")
STEP = 15.0  # seconds between the operator's steps
BROWSE_SEED = 15


class Operator:
    """`warm_up()` before the pictures' window, `run(duration)` inside it."""

    def __init__(self, admin_url: str, admin_key: str) -> None:
        self.admin_url, self.admin_key = admin_url, admin_key
        self.answers: Counter[str] = Counter()
        self._job_ids: dict[str, int] = {}  # by job type, and the two billing jobs by name
        self._failed_runs: list[int] = []
        self._month = 1  # the last month billed
        self._now = datetime.now(UTC)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.admin_url, headers={"X-API-Key": self.admin_key})

    async def warm_up(self, traffic: Traffic) -> None:
        """Two billing jobs, one per customer type, and a run of the business one as of next
        month with no tax yet, so its invoices fail. The failure counters then exist when the
        window opens, and `increase()` counts the failures inside it from zero (a labelled
        counter that appears at 1 has no earlier sample)."""
        async with self._client() as admin:
            listed = await self._call(admin, "GET", "/v1/jobs", params={"limit": 100})
            self._job_ids = {job["job_type"]: job["id"] for job in listed["items"]}
            for kind in CUSTOMER_TYPES:
                job = {
                    "job_type": "billing",
                    "name": f"billing {kind}",
                    # never due on its own: run on request only
                    "schedule": {"kind": "once", "start_at": "2099-01-01T00:00:00+00:00"},
                    "active": False,
                    "criteria": {"customer_types": [kind]},
                }
                made = await self._call(admin, "POST", "/v1/jobs", json=job)
                self._job_ids[f"billing {kind}"] = made["id"]
            await traffic.first_usage()
            self._now = datetime.now(UTC)
            self._failed_runs.append(await self._billing(admin, "billing business", month=1))
            await self._finished(admin, self._failed_runs[-1])

    async def run(self, duration: float) -> Counter[str]:
        """The operator's steps, and the back office browsing customers meanwhile."""
        async with self._client() as admin:
            await asyncio.gather(self._steps(admin, duration), self._browse(admin, duration))
        return self.answers

    async def _steps(self, admin: httpx.AsyncClient, duration: float) -> None:
        """Every 15 s a step, and a run of one of the other default jobs: billing of the
        residential customers (fails: no tax yet); the tax added and both failed runs retried;
        then billing of everyone, one month further each time, the alerts acknowledged on the
        way. No step starts in the last 10 s of the load."""
        steps = [
            self._bill_residential,
            self._fix_and_retry,
            self._bill_everyone,
            self._acknowledge_alerts,
            self._bill_everyone,
        ]
        start = time.monotonic()
        for i, step in enumerate(steps):
            due = start + STEP * (i + 1)
            if due > start + duration - 10:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await step(admin)
            other = self._job_ids[OTHER_JOBS[i % len(OTHER_JOBS)]]
            await self._call(admin, "POST", f"/v1/jobs/{other}/runs", json={})

    async def _browse(self, admin: httpx.AsyncClient, duration: float) -> None:
        """Four reads a second: customer lists, details, live balances, and now and then an
        unknown customer (404) or a bad page size (422), so the admin API's panels vary."""
        listed = await self._call(admin, "GET", "/v1/customers", params={"limit": 100})
        ids = [customer["id"] for customer in listed["items"]]
        end, rng = time.monotonic() + duration, random.Random(BROWSE_SEED)
        while time.monotonic() < end:
            await asyncio.sleep(0.25)
            roll, customer = rng.random(), rng.choice(ids)
            if roll < 0.3:
                path, params = "/v1/customers", {"limit": 20, "q": rng.choice(["load", "r00"])}
            elif roll < 0.6:
                path, params = f"/v1/customers/{customer}", {}
            elif roll < 0.9:
                path, params = f"/v1/customers/{customer}/balances", {}
            elif roll < 0.95:
                path, params = "/v1/customers/999999999", {}
            else:
                path, params = "/v1/customers", {"limit": 0}
            await self._call(admin, "GET", path, params=params, refused_ok=True)

    async def _bill_residential(self, admin: httpx.AsyncClient) -> None:
        self._failed_runs.append(await self._billing(admin, "billing residential", month=1))
        await self._finished(admin, self._failed_runs[-1])

    async def _fix_and_retry(self, admin: httpx.AsyncClient) -> None:
        await self._call(admin, "PUT", f"/v1/taxes/{TAX}", json={"rate": "22"})
        for run in self._failed_runs:
            await self._call(admin, "POST", f"/v1/job-runs/{run}/retry", json={})

    async def _bill_everyone(self, admin: httpx.AsyncClient) -> None:
        self._month += 1
        await self._billing(admin, "billing", self._month)

    async def _acknowledge_alerts(self, admin: httpx.AsyncClient) -> None:
        alerts = await self._call(admin, "GET", "/v1/alerts", params={"status": "open"})
        for alert in alerts["items"]:
            await self._call(admin, "POST", f"/v1/alerts/{alert['id']}/acknowledge")

    async def _billing(self, admin: httpx.AsyncClient, job: str, month: int) -> int:
        """A run of billing job `job` as of `month` months from now; its id."""
        at = self._now + timedelta(days=31 * month)
        path = f"/v1/jobs/{self._job_ids[job]}/runs"
        run = await self._call(admin, "POST", path, json={"process_now": at.isoformat()})
        return int(run["id"])

    async def _finished(self, admin: httpx.AsyncClient, run_id: int) -> None:
        for _ in range(240):
            run = await self._call(admin, "GET", f"/v1/job-runs/{run_id}")
            if run["status"] in ("succeeded", "failed"):
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"job run {run_id} did not finish in 2 minutes")

    async def _call(
        self,
        admin: httpx.AsyncClient,
        method: str,
        path: str,
        refused_ok: bool = False,
        **kw: Any,
    ) -> Any:
        """One admin API call, counted by route and status; an error status stops the run
        (a 4xx is only counted when `refused_ok`)."""
        answer = await admin.request(method, path, **kw)
        route = re.sub(r"/[0-9]+", "/{id}", path)
        self.answers[f"{method} {route} {answer.status_code}"] += 1
        if not (refused_ok and answer.is_client_error):
            answer.raise_for_status()
        return answer.json() if answer.content else None
