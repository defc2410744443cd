"""Job type name -> its `run_once`: the module `billing_batch.jobs.<job type>`. The admin API
knows the names and criteria from `tarif_jobs.kinds`; only the batch knows the functions."""

from __future__ import annotations

from importlib import import_module

from billing_batch.jobs.context import RunOnce
from tarif_jobs.kinds import JOB_TYPES


def run_once_of(job_type: str) -> RunOnce:
    """The `run_once` of a known job type (KeyError for an unknown one)."""
    if job_type not in JOB_TYPES:
        raise KeyError(job_type)
    module = import_module(f"billing_batch.jobs.{job_type}")
    run_once: RunOnce = module.run_once
    return run_once
