"""Errors made visible (seed 004): an activity-log entry names the process, the object and the
likely cause; an alert stays open for operators until acknowledged. The failed object itself is
marked failed where it lives by its own code (invoice, e-mail log, payment, run item, delivery)."""

from __future__ import annotations

from typing import Literal

from tarif_jobs.runs import ItemRef
from tarif_postgres import queries
from tarif_postgres.driver import TarifConnection

Q = queries.load("jobs")


async def record_failure(
    conn: TarifConnection,
    process: str,
    ref: ItemRef | None,
    message: str,
    *,
    cause: str = "",
    run_id: int | None = None,
    severity: Literal["warning", "critical"] = "warning",
    alert_key: str | None = None,
) -> int:
    """Log the failure and raise (or count again) its alert; returns the alert id. The alert key
    defaults to the process and the object, so the same failure repeating is one alert."""
    object_type = ref.object_type if ref else None
    object_id = ref.object_id if ref else None
    await conn.execute(
        Q.insert_activity, "error", process, object_type, object_id, cause, message, run_id
    )
    key = alert_key or f"{process}:{object_type or ''}:{object_id or ''}"
    alert_id: int = await conn.fetchval(
        Q.raise_alert, key, severity, process, object_type, object_id, cause, message, run_id
    )
    return alert_id
