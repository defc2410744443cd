"""How every command answers: lines and tables for people, or one JSON document for scripts.

A command builds its JSON document first (amounts as exact decimal strings) and draws the
human view from that document, so both always say the same thing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tarif_cli.quantities import decimal_text, show

NONE = "-"


def emit(document: Any, human: Callable[[Any], list[str]], as_json: bool) -> None:
    """Print `document` as JSON (`--json`) or as the lines `human` draws from it."""
    if as_json:
        print(to_json(document))
    else:
        print("\n".join(human(document)))


def to_json(document: Any) -> str:
    """The document as JSON; a float anywhere in it is a bug, refused rather than printed."""
    _refuse_floats(document)
    return json.dumps(document, indent=2, default=_encode, ensure_ascii=False)


def _refuse_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError(f"a float ({value!r}) in a JSON answer: amounts are decimal strings")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_floats(item)


def _encode(value: Any) -> Any:
    """Values the service functions hand back that JSON has no type for: never a float."""
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()
) -> list[str]:
    """Columns padded to their widest cell; the columns in `right` (amounts) aligned right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """`name  value` lines, the values aligned."""
    width = max((len(name) for name, _ in pairs), default=0)
    return [f"{name.ljust(width)}  {value}" for name, value in pairs]


def when(value: str | datetime | None) -> str:
    """A moment for people, in UTC to the second: `2026-11-18 10:59:00 UTC`."""
    if value is None or value == "":
        return NONE
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def text(value: Any) -> str:
    """A plain cell: nothing reads `-`."""
    return NONE if value is None or value == "" else str(value)


def quantity(amount: str | None, unit: str | None) -> str:
    """An amount of a JSON document (an exact decimal string) with its unit, for people."""
    return NONE if amount is None else show(Decimal(amount), unit)
