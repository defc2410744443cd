"""Named SQL queries: one `.sql` file per domain in `tarif_postgres/sql/`, parsed once.

A file is a series of blocks, each opened by a `-- name:` line and a description that gives the
arguments in order (asyncpg's `$1`, `$2`, ...):

    -- name: customer_by_id
    -- One customer. $1 customer id
    SELECT ... FROM customers WHERE id = $1;

Code reads `Q = queries.load("customers")` once at import and runs `conn.fetchrow(Q.customer_by_id,
customer_id)`. A list whose filters and sort the caller chooses holds `{where}` and `{order}`
slots, filled only by `compose` with conditions built from a whitelist (`admin_api/paging.py`);
every value stays a bind parameter.

Why named blocks read into strings (the procrastinate way) rather than aiosql: asyncpg's own `$n`
parameters, record types, transactions and COPY stay exactly as they are at every call site, and
a listing can compose whitelisted fragments into its query, which aiosql's generated functions do
not offer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

_PACKAGE = "tarif_postgres.sql"
_NAME = re.compile(r"^-- name: ([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
_SLOT = re.compile(r"\{(\w+)\}")


class Queries(Mapping[str, str]):
    """The queries of one domain file, by name (also as attributes: `Q.customer_by_id`)."""

    def __init__(self, domain: str, blocks: dict[str, str]) -> None:
        self._domain = domain
        self._blocks = blocks

    def __getattr__(self, name: str) -> str:
        try:
            return self._blocks[name]
        except KeyError:
            raise AttributeError(f"no query {name!r} in sql/{self._domain}.sql") from None

    def __getitem__(self, name: str) -> str:
        return self._blocks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._blocks)

    def __len__(self) -> int:
        return len(self._blocks)


def parse(domain: str, text: str) -> Queries:
    """Blocks of a query file; every block needs a description line and a statement."""
    blocks: dict[str, str] = {}
    parts = _NAME.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = body.strip("\n").splitlines()
        if not lines or not lines[0].startswith("--"):
            raise ValueError(f"sql/{domain}.sql: query {name} needs a description line")
        statement = "\n".join(line for line in lines if not line.lstrip().startswith("--"))
        statement = statement.strip().removesuffix(";").strip()
        if not statement:
            raise ValueError(f"sql/{domain}.sql: query {name} is empty")
        if name in blocks:
            raise ValueError(f"sql/{domain}.sql: query {name} is defined twice")
        blocks[name] = statement
    return Queries(domain, blocks)


@functools.cache
def load(domain: str) -> Queries:
    """The queries of `sql/<domain>.sql` (read once per process)."""
    text = (resources.files(_PACKAGE) / f"{domain}.sql").read_text(encoding="utf-8")
    return parse(domain, text)


def compose(query: str, **slots: str) -> str:
    """Fills a query's `{slot}`s with SQL built from whitelists, never with input values."""
    missing = set(_SLOT.findall(query)) - set(slots)
    if missing:
        raise KeyError(f"unfilled slots {sorted(missing)}")
    return _SLOT.sub(lambda m: slots[m[1]], query)


def arrays(rows: Iterable[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as one list per column: the arguments of an `INSERT ... SELECT FROM unnest($1, ...)`
    that writes them all in one statement. Every row must have `width` values."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    return columns
