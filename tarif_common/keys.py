"""Every Redis key name Tarif uses, with its lifetime beside it.

Cluster layout: the keys one charging script touches share the hash tag of the account's
partition (`{p7}`), so one script runs unchanged on a single Redis or a Redis Cluster. Accounts are
placed in a partition when provisioned; the number of partitions is fixed per deployment and kept
in `META`. Keys without a hash tag (routes, catalog) are never touched by a charging script.
"""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime, timedelta

PREFIX = "tarif"

# Hash: deployment facts (partitions). No TTL.
META = f"{PREFIX}:meta"
# String: the catalog document (JSON). No TTL.
CATALOG = f"{PREFIX}:catalog"
# Integer: bumped on every catalog publish; engines poll it and listen on CATALOG_CHANNEL.
CATALOG_VERSION = f"{PREFIX}:catalog:version"
CATALOG_CHANNEL = f"{PREFIX}:catalog:changed"

# Ids that end up inside keys and records: no separators, no hash-tag braces.
# Python code checks an id with `ID_PATTERN.fullmatch` (`$` alone lets a final newline through);
# pydantic's `pattern=` uses Rust's regex, where `$` is the end of the text
ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@+-]{1,128}$")


def text(value: bytes | str) -> str:
    """A Redis reply as text: clients may be built with or without decode_responses."""
    return value.decode() if isinstance(value, bytes) else value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_time(raw: str) -> datetime:
    """A stream field holding Unix milliseconds (the engine's `t`, `at`) as an aware datetime.

    Integer arithmetic (not `fromtimestamp(ms / 1000)`): exact to the millisecond at any date,
    and a time out of range is a ValueError like any malformed one (fromtimestamp raised an
    OSError for some, which a retry loop takes for a lost connection and retries forever)."""
    try:
        return _EPOCH + timedelta(0, 0, 0, int(raw))  # (days, seconds, microseconds, milliseconds)
    except OverflowError as exc:
        raise ValueError(f"time {raw} ms is out of range") from exc


# Stream of usage events that could not be rated (unknown subscriber, service, rating field or
# tariff), kept with their reason until the back office corrects and re-rates them.
UNRATED = f"{PREFIX}:unrated"


def unrated_seen(event_id: str) -> str:
    """String: marks an event id already kept as unrated (TTL: settings.idempotency_ttl)."""
    return f"{PREFIX}:unrated:seen:{event_id}"


def route(identifier: str) -> str:
    """String "partition|account|plan|group|owner" for a service identifier (MSISDN...).

    `group` and `owner` are empty unless the account is a member of a sharing group. No TTL.
    """
    return f"{PREFIX}:svc:{identifier}"


def locator(account_id: str) -> str:
    """String: the partition an account lives in (it moves into its group owner's). No TTL."""
    return f"{PREFIX}:loc:{account_id}"


def group_locator(group_id: str) -> str:
    """String "partition|owner" of a sharing group. No TTL."""
    return f"{PREFIX}:grp:{group_id}"


def route_value(partition: int, account: str, plan: str, group: str = "", owner: str = "") -> str:
    """The value of `route(identifier)`; the engine's store parses it back."""
    return f"{partition}|{account}|{plan}|{group}|{owner}"


def partition_of(account: str, partitions: int) -> int:
    """Default placement of a new account: stable across processes and restarts."""
    return zlib.crc32(account.encode()) % partitions


def tag(partition: int) -> str:
    return f"{{p{partition}}}"


def account(partition: int, account_id: str) -> str:
    """Hash: status, payment type, services, balances and open sessions of one account.

    Fields: `st` status, `pt` payment type, `s:<identifier>` plan of a service,
    `b:<id>` balance descriptor "resource|valid_from_ms|valid_to_ms|priority|floor",
    `a:<id>` amount, `v:<id>` reserved, `x:<session>` open session (msgpack), `xe` earliest
    expiry of the open sessions (ms; may be early, never late), `t:<resource>` levels of the
    credit profile's thresholds ("level,f|r;..."), `ti:<resource>` their [[id, type, channels]]
    (JSON, same order), `g` sharing group. No TTL.
    """
    return f"{PREFIX}:{tag(partition)}:a:{account_id}"


def group(partition: int, group_id: str) -> str:
    """Hash of a sharing group, in its owner's partition (members are placed there too).

    Fields: `owner`, `st` active|cancelled, `vf`/`vt` validity (ms, 0 = open), `ord`
    own_first|pool_first, `res` the shared resources (comma-separated), `r:<resource>` cap per
    member per cycle (-1 = none), `m:<account>` active|suspended, `u:<account>:<resource>:<cycle>`
    used + held (kept only for capped resources).
    """
    return f"{PREFIX}:{tag(partition)}:g:{group_id}"


def moving(partition: int, account_id: str) -> str:
    """String: the partition an account left this one for, while a move into its sharing
    group's partition is under way on a Redis Cluster (written with the account's deletion,
    deleted once its routes and locator point to the new home). No TTL."""
    return f"{PREFIX}:{tag(partition)}:mv:{account_id}"


def idempotency(partition: int, account_id: str, request_id: str) -> str:
    """String (msgpack): the stored answer of one request. TTL: settings.idempotency_ttl."""
    return f"{PREFIX}:{tag(partition)}:i:{account_id}:{request_id}"


def session_request_id(session_id: str, request_number: int) -> str:
    return f"s:{session_id}#{request_number}"


def event_request_id(event_id: str) -> str:
    return f"e:{event_id}"


def refund_request_id(refund_id: str) -> str:
    return f"r:{refund_id}"


def adjustment_request_id(adjustment_id: str) -> str:
    return f"a:{adjustment_id}"


def rated_stream(partition: int) -> str:
    """Stream of rated records, written by the charging scripts, read by billing_batch."""
    return f"{PREFIX}:{tag(partition)}:rated"


def notification_stream(partition: int) -> str:
    """Stream of notifications (thresholds crossed), written by the charging scripts."""
    return f"{PREFIX}:{tag(partition)}:notif"


def session_expiry(partition: int) -> str:
    """Sorted set "account|session" -> expiry (ms): what the sweeper releases. No TTL."""
    return f"{PREFIX}:{tag(partition)}:sexp"


def partition_stats(partition: int) -> str:
    """Hash: `open` sessions, `rv:<resource>` units reserved. Read by the metrics task."""
    return f"{PREFIX}:{tag(partition)}:stats"
