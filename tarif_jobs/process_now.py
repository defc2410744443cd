"""The "process now" rule, one place for every run that acts as of a chosen time (run now,
retry, an automation's Start, run billing of one profile): a time other than the present is a
simulation, allowed in test and staging deployments only (`TARIF_ENVIRONMENT`), because billing
or collecting as of a future date in production charges customers early."""

from __future__ import annotations

from datetime import datetime, timedelta

from tarif_common.settings import Settings

# clocks of the caller and the server differ a little; a "now" within this is the present
TOLERANCE = timedelta(minutes=1)


class SimulatedTimeRefused(Exception):
    """A "process now" time other than the present, asked of a production deployment."""


def process_now(settings: Settings, asked: datetime | None, now: datetime) -> datetime:
    """The time a run acts as of: `asked` if given and allowed, else `now`."""
    if asked is None:
        return now
    if settings.environment == "production" and abs(asked - now) > TOLERANCE:
        raise SimulatedTimeRefused(
            f"a process-now time ({asked.isoformat()}) other than the present is refused in "
            "production; it is for test and staging deployments (TARIF_ENVIRONMENT)"
        )
    return asked
