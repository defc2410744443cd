"""Job type `export`: invoices, financial reports, payments or usage events of a period (selected
on a chosen date field) written once as a CSV or JSON file and delivered to each destination.

Each destination is one item of the run (`export_delivery`, `<file name>#<n>:<type>`) and one row
of `export_deliveries`, keyed by what is exported (data, format, filters, file name, period) and
where: a file delivered there is never delivered again, by a resumed run, a retry or another run
of the same period. A failed delivery is marked failed in the log and as a failed item of the run
(activity log, alert); a retry delivers it. The row is locked while its file is being sent, so
two runs at the same time never send it twice; a sender that dies mid-delivery releases the lock
with its connection, and the next attempt sends again (the receiver sees the same file name and,
for a webhook, the same `webhook-id`).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg

from billing_batch.exports import destinations
from billing_batch.exports.destinations import DeliveryFailed
from billing_batch.exports.files import ExportFile, write_export
from billing_batch.jobs.context import JobContext
from billing_batch.jobs.origin import period_time
from tarif_jobs.report_criteria import (
    Destination,
    EmailDestination,
    ExportCriteria,
    SftpDestination,
    fingerprint,
)
from tarif_jobs.runs import ItemRef, Items, RunRequest
from tarif_postgres import queries

Q = queries.load("reports")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    ref: ItemRef
    key: str
    destination: Destination


def deliveries(criteria: ExportCriteria, start: date, end: date) -> list[Delivery]:
    """One delivery per destination, each with its run item and its log key."""
    name = criteria.file_name(start, end)
    what = criteria.model_dump(mode="json", exclude={"destinations"})
    found = []
    for n, dest in enumerate(criteria.destinations, start=1):
        where = dest.model_dump(mode="json")
        key = fingerprint({"export": what, "file": name, "from": start, "until": end, "to": where})
        found.append(Delivery(ItemRef("export_delivery", f"{name}#{n}:{dest.type}"), key, dest))
    return found


async def run_once(ctx: JobContext, request: RunRequest, items: Items) -> None:
    criteria = ExportCriteria.model_validate(dict(request.criteria))
    as_of = await period_time(ctx.pool, request)  # a retry: its original run's period
    start, end = criteria.period.window(as_of, criteria.time_zone)
    wanted = [d for d in deliveries(criteria, start, end) if request.wants(d.ref)]
    await items.add_total(len(wanted))
    pending: list[Delivery] = []
    for d in wanted:
        await ctx.pool.execute(
            Q.add_export_delivery,
            d.key,
            request.run_id,
            criteria.data,
            criteria.format,
            d.destination.type,
            d.destination.target(),
            criteria.file_name(start, end),
            start,
            end,
        )
        state = await ctx.pool.fetchrow(Q.export_delivery_state, d.key)
        if state["status"] == "delivered":
            await items.succeeded()  # delivered before: not again
        else:
            pending.append(d)
    if not pending:
        return
    with tempfile.TemporaryDirectory(prefix="tarif-export-") as tmp:
        try:
            file = await write_export(ctx.pool, criteria, start, end, Path(tmp))
        except (asyncpg.PostgresError, OSError) as exc:
            for d in pending:
                await items.failed(d.ref, exc, cause="the export file could not be written")
            return
        for d in pending:
            if ctx.stop():
                return  # the queue runs it again; delivered ones are not sent again
            await _deliver(ctx, request, items, criteria, file, (start, end), d)


async def _deliver(
    ctx: JobContext,
    request: RunRequest,
    items: Items,
    criteria: ExportCriteria,
    file: ExportFile,
    period: tuple[date, date],
    d: Delivery,
) -> None:
    error: DeliveryFailed | None = None
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(Q.lock_export_delivery, d.key)
        if row is None:
            error = DeliveryFailed("another run is delivering this file now")
        elif row["status"] == "delivered":
            await items.succeeded()
            return
        else:
            try:
                detail = await _send(ctx, criteria, file, period, d, row["id"], request.run_id)
            except DeliveryFailed as exc:
                error = exc
                await conn.execute(Q.mark_export_failed, row["id"], request.run_id, str(exc))
            else:
                await conn.execute(
                    Q.mark_export_delivered,
                    row["id"],
                    request.run_id,
                    file.rows,
                    file.size,
                    file.sha256,
                    detail,
                )
    if error is None:
        log.info("export.delivered", extra={"file": file.name, "to": d.destination.type})
        await items.succeeded()
        return
    log.warning("export.failed", extra={"file": file.name, "to": d.destination.type})
    await items.failed(
        d.ref,
        f"{file.name} to {d.destination.target()}: {error}",
        cause=f"the {d.destination.type} destination refused the file or could not be reached",
    )


async def _send(
    ctx: JobContext,
    criteria: ExportCriteria,
    file: ExportFile,
    period: tuple[date, date],
    d: Delivery,
    delivery_id: int,
    run_id: int | None,
) -> str:
    dest = d.destination
    if isinstance(dest, EmailDestination):
        return await destinations.send_email(
            ctx.pool,
            ctx.settings,
            dest,
            criteria,
            file,
            period,
            key=f"export:{d.key}",
            delivery_id=delivery_id,
            run_id=run_id,
        )
    if isinstance(dest, SftpDestination):
        return await destinations.send_sftp(ctx.settings, dest, file)
    return await destinations.send_webhook(ctx.settings, dest, file, delivery_id=delivery_id)
