"""A batch process for the worker tests (`python -m tests.integration.jobs_worker`): the real
BatchApp, settings from the environment, with the tests' `probe` job type besides the batch's.
Exits 0 after SIGTERM, like `tarif batch`."""

from __future__ import annotations

import asyncio
import sys

from billing_batch.app import BatchApp
from tarif_common.settings import Settings
from tests.integration.scheduler_harness import job_types


async def main() -> int:
    async with BatchApp(Settings(), serve_metrics=False, idle_poll=0.1, job_types=job_types) as app:
        print("ready", flush=True)
        await app.serve_until_stopped()
    return 1 if app.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
