"""What the notifier sends: a credit-profile threshold crossed or a self-care mail, and where."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from tarif_catalog.credit_profiles import CHANNELS
from tarif_catalog.model import Resource
from tarif_common.keys import ms_time

DIRECTIONS = {"f": "falling", "r": "rising"}


class UnreadableEntry(ValueError):
    """A stream entry that is not a notification the engine writes."""


@dataclass(frozen=True, slots=True)
class Notification:
    account_id: str
    source_id: str  # "<request id>|<threshold id>": unique per crossing of one account
    subscriber: str
    type: str
    threshold_id: str
    resource: str
    direction: str
    threshold_level: int  # the resource's smallest unit (cents, seconds, bytes...)
    value: int
    decimals: int
    unit: str
    event_time: datetime
    fired_at: datetime
    channels: tuple[str, ...]
    id: int = 0

    def amount(self, units: int) -> Decimal:
        """Units of the smallest unit as the amount people read (cents -> euros)."""
        return Decimal(units).scaleb(-self.decimals)

    def as_json(self) -> dict[str, Any]:
        """The notification as webhooks and listings show it (amounts as decimal strings)."""
        return {
            "id": self.id,
            "account_id": self.account_id,
            "subscriber": self.subscriber,
            "type": self.type,
            "threshold": self.threshold_id,
            "resource": self.resource,
            "unit": self.unit,
            "direction": self.direction,
            "threshold_value": str(self.amount(self.threshold_level)),
            "value": str(self.amount(self.value)),
            "event_time": self.event_time.isoformat(),
            "fired_at": self.fired_at.isoformat(),
        }


def from_entry(fields: dict[str, str], resources: dict[str, Resource]) -> Notification:
    """Read a `tarif:{p}:notif` entry (written by lib.lua's notify_crossings)."""
    try:
        channels = tuple(c for c in fields["ch"].split(",") if c)
        unknown = [c for c in channels if c not in CHANNELS]
        if unknown or fields["dir"] not in DIRECTIONS:
            raise UnreadableEntry(f"unknown channel or direction in {fields}")
        resource = resources.get(fields["res"])
        return Notification(
            account_id=fields["acct"],
            source_id=fields["id"],
            subscriber=fields["sub"],
            type=fields["k"],
            threshold_id=fields["th"],
            resource=fields["res"],
            direction=DIRECTIONS[fields["dir"]],
            threshold_level=int(fields["level"]),
            value=int(fields["value"]),
            decimals=resource.decimals if resource else 0,
            unit=resource.unit if resource else fields["res"],
            event_time=ms_time(fields["t"]),
            fired_at=ms_time(fields["at"]),
            channels=channels,
        )
    except (KeyError, ValueError) as exc:
        raise UnreadableEntry(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where one channel delivers; an empty address with `skip` says why it cannot."""

    channel: str
    address: str
    skip: str = ""


@dataclass(frozen=True, slots=True)
class SelfcareMail:
    """An e-mail to a self-care user carrying a one-time token: `verification` of its address
    or `password_reset`. Sent by e-mail only, with the template `selfcare_<purpose>.email.j2`."""

    id: int
    customer_id: int
    purpose: str
    email: str
    token: str
    expires_at: datetime

    @property
    def type(self) -> str:
        return f"selfcare_{self.purpose}"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One delivery attempt handed to a channel: a notification or a self-care mail."""

    delivery_id: int
    channel: str
    recipient: str
    attempt: int
    notification: Notification | SelfcareMail
