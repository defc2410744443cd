"""When a failed card payment is tried again by itself: the retry schedule.

After the n-th failed attempt of an invoice (declined, or an error that outlasted the retries
within its run), the next run may try again `retry_days[n - 1]` days after the failed run's
"process now" (default +1, +3, +7 days); after the last delay it gives up and raises an alert.
A **hard decline** (the card expired, was reported lost or stolen, or the token is unknown) is
not tried again by the schedule: nothing would change until the customer's card does, and a new
card token is tried at the next run. An operator can retry any failed attempt at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Decline codes that no retry fixes (the card itself must change).
HARD_DECLINES = frozenset(
    {
        "expired_card",
        "lost_card",
        "stolen_card",
        "pickup_card",
        "invalid_token",
        "unknown_token",
        "card_not_supported",
        "invalid_account",
        "revoked_authorization",
    }
)


@dataclass(frozen=True, slots=True)
class NextTry:
    at: datetime | None  # None: not by the schedule
    gave_up: bool  # the schedule ran out: an operator must look at it


def next_try(
    failures: int, process_now: datetime, retry_days: tuple[int, ...], *, code: str = ""
) -> NextTry:
    """The next try after the invoice's `failures`-th failed attempt (this one included)."""
    if code in HARD_DECLINES:
        return NextTry(None, gave_up=False)
    if failures <= len(retry_days):
        return NextTry(process_now + timedelta(days=retry_days[failures - 1]), gave_up=False)
    return NextTry(None, gave_up=True)
