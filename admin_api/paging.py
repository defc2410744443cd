"""List conventions shared by every collection endpoint.

- `limit` (1-500, default 50) and `cursor` (opaque, from the previous page's `next_cursor`,
  which is null on the last page): keyset pagination, so page 1000 costs what page 1 costs.
  Every list pages so, those in one fixed order too (`Keyset`).
- `sort`: a field name, `-` in front for descending (e.g. `-created_at`); the id breaks ties.
- filters are query parameters named after the field; `q` searches text.
Only whitelisted column names ever reach SQL; every value is a bind parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from tarif_common.errors import InvalidRequest

T = TypeVar("T")

MAX_LIMIT = 500
MAX_ID = 2**63 - 1  # where a newest-first list of bigint ids starts


Listed = tuple[list[dict[str, Any]], str | None]  # a page's items and the next page's cursor


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True, slots=True)
class SortField:
    column: str  # trusted SQL (from the whitelist), e.g. "lower(city)"
    load: Callable[[Any], Any] = lambda v: v  # cursor value (JSON) -> bind parameter
    dump: Callable[[Any], Any] = lambda v: v  # row value -> JSON


@dataclass
class Select:
    """Builds `WHERE` conditions with numbered bind parameters."""

    params: list[Any] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def where(self, condition: str, *values: Any) -> None:
        """`condition` holds `{}` for each value, e.g. `"country = {}"`."""
        self.conditions.append(condition.format(*(self.bind(v) for v in values)))

    def where_sql(self) -> str:
        return " AND ".join(self.conditions) if self.conditions else "TRUE"


@dataclass(frozen=True)
class Listing:
    limit: int
    cursor: str | None
    sort: str | None


async def listing(
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="items per page"),
    cursor: str | None = Query(None, max_length=1000, description="next_cursor of the last page"),
    sort: str | None = Query(None, max_length=64, description="field, `-field` for descending"),
) -> Listing:
    return Listing(limit, cursor, sort)


@dataclass(frozen=True, slots=True)
class Order:
    """The chosen sort: select `expression AS sort_key`, order by `sql`."""

    name: str
    expression: str
    sql: str
    field: SortField


def order(
    select: Select, listing: Listing, fields: Mapping[str, SortField], default: str, id_column: str
) -> Order:
    """Adds the cursor's condition to `select`; returns the order to select and sort by."""
    name = listing.sort or default
    descending = name.startswith("-")
    key = name.removeprefix("-")
    if key not in fields:
        raise InvalidRequest(
            "sort", f"must be one of {', '.join(sorted(fields))} (- for descending)"
        )
    sort_field = fields[key]
    column = sort_field.column or key
    direction = "DESC" if descending else "ASC"
    if listing.cursor:
        try:
            cursor_name, value, last_id = json.loads(base64.urlsafe_b64decode(listing.cursor))
            if cursor_name != name:
                raise ValueError("the cursor belongs to another sort")
            value = sort_field.load(value)
            last: int = id_value(last_id)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InvalidRequest("cursor", f"is not a cursor of this listing ({exc})") from None
        op = "<" if descending else ">"
        select.where(f"({column}, {id_column}) {op} ({{}}, {{}})", value, last)
    return Order(name, column, f"{column} {direction}, {id_column} {direction}", sort_field)


def next_cursor(
    rows: Sequence[Mapping[str, Any]], limit: int, chosen: Order, id_key: str
) -> str | None:
    """The cursor after the last row (rows must carry `sort_key`), or None on the last page."""
    if len(rows) < limit:
        return None
    last = rows[-1]
    payload = [chosen.name, chosen.field.dump(last["sort_key"]), last[id_key]]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


# -- lists in one fixed order ----------------------------------------------------------------


@dataclass(frozen=True)
class Paging:
    """`limit` and `cursor` of a list that has one order (no `sort`)."""

    limit: int
    cursor: str | None


async def paging(
    limit: int = Query(50, ge=1, le=MAX_LIMIT, description="items per page"),
    cursor: str | None = Query(None, max_length=1000, description="next_cursor of the last page"),
) -> Paging:
    return Paging(limit, cursor)


def _like(value: Any, start: Any) -> bool:
    """A key of the same shape as the list's start: a bigint id, a text, or a tuple of them
    (a forged cursor is a 422, never a driver error)."""
    if isinstance(start, tuple):
        return (
            isinstance(value, tuple)
            and len(value) == len(start)
            and all(_like(v, s) for v, s in zip(value, start, strict=True))
        )
    if isinstance(start, int):
        return type(value) is int and 0 <= value <= MAX_ID
    return isinstance(value, str) and "\x00" not in value


def id_value(value: Any) -> int:
    """A cursor's value that must be a bigint id (`SortField.load`): 422 for anything else."""
    if not _like(value, 0):
        raise ValueError("the cursor's value is not an id")
    return int(value)


def text_value(value: Any) -> str:
    """A cursor's value that must be text (`SortField.load`): 422 for anything else."""
    if not _like(value, ""):
        raise ValueError("the cursor's value is not text")
    return str(value)


@dataclass(frozen=True, slots=True)
class Keyset:
    """The one order of a list: its unique key and where page 1 starts.

    The query takes the key of the last row seen (`start` on page 1: 0, "" or MAX_ID, so it
    never needs an `IS NULL OR`) and the page size, e.g. `WHERE id > $2 ORDER BY id LIMIT $3`:
    an index range, whichever the page. A cursor names its list, so one list refuses another's.
    """

    name: str
    key: str | tuple[str, ...]  # the row field(s) holding the key
    start: Any
    hidden: bool = False  # the key is not an answered field: drop it from the items
    load: Callable[[Any], Any] = lambda v: v  # cursor value (JSON) -> bind parameter
    dump: Callable[[Any], Any] = lambda v: v  # row value -> JSON

    def after(self, page: Paging) -> Any:
        """The key the page starts after (`start` on page 1); 422 for a cursor not of this list."""
        if not page.cursor:
            return self.start
        try:
            name, value = json.loads(base64.urlsafe_b64decode(page.cursor))
            if name != self.name:
                raise ValueError("the cursor belongs to another list")
            value = tuple(value) if isinstance(self.key, tuple) else value
            if not _like(value, self.start):
                raise ValueError("its key is not one of this list")
            return self.load(value)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InvalidRequest("cursor", f"is not a cursor of this list ({exc})") from None

    def page(self, rows: Sequence[Mapping[str, Any]], page: Paging) -> Listed:
        """The items and the cursor after the last (None when the page is not full)."""
        items = [dict(r) for r in rows]
        cursor = None
        if len(items) >= page.limit:
            last = items[-1]
            value = [last[k] for k in self.key] if isinstance(self.key, tuple) else last[self.key]
            payload = [self.name, self.dump(value)]
            cursor = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        if self.hidden:
            for item in items:
                for k in self.key if isinstance(self.key, tuple) else (self.key,):
                    item.pop(k)
        return items, cursor
