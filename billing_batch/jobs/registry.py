"""Job type name -> its `run_once`. The admin API knows the names and criteria from
`tarif_jobs.kinds`; only the batch knows the functions."""

from __future__ import annotations

from billing_batch.jobs.context import RunOnce

RUN_ONCE: dict[str, RunOnce] = {}
