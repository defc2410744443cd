"""Checks for single values of the catalog document, each failing with the value's path.

The document comes from YAML or JSON, so the checks are strict about types: YAML turns unquoted
`0.12` into a binary float and `8:00` into the (base 60) integer 480, and both must be refused
rather than silently rounded or misread.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from tarif_catalog.model import MICROS_PER_UNIT
from tarif_common.errors import CatalogError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.([0-9]+))?")
_CLOCK = re.compile(r"([0-9]{2}):([0-9]{2})")
MAX_MONEY_DECIMALS = 6


def at(path: str, key: str | int) -> str:
    """The path of `key` (a mapping key or a list index) inside `path`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: object) -> str:
    """A short description of a wrongly typed value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool | int | float | str):
        kind = {bool: "a boolean", int: "an integer", float: "a float"}.get(type(value), "a string")
        return f"{kind} ({value!r})"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


def mapping(value: Any, path: str) -> Mapping[str, Any]:
    """A mapping whose keys are all strings."""
    if not isinstance(value, Mapping):
        raise CatalogError(path, f"expected a mapping, got {describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise CatalogError(at(path, str(key)), "keys must be strings (quote it)")
    return value


def keys(
    value: Mapping[str, Any], path: str, required: Collection[str], optional: Collection[str]
) -> None:
    """Reject unknown keys (typos would otherwise be ignored) and missing required ones."""
    for key in value:
        if key not in required and key not in optional:
            allowed = ", ".join(sorted({*required, *optional}))
            raise CatalogError(at(path, key), f"unknown key; allowed keys: {allowed}")
    for key in required:
        if key not in value:
            raise CatalogError(at(path, key), "required key is missing")


def sequence(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise CatalogError(path, f"expected a list, got {describe(value)}")
    return list(value)


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise CatalogError(path, f"expected a string, got {describe(value)}")
    if not value:
        raise CatalogError(path, "must not be empty")
    return value


def name(value: Any, path: str) -> str:
    """An identifier: it ends up in rate ids (`tariff:prefix:band`), paths and storage keys."""
    text = string(value, path)
    if not _NAME.fullmatch(text):
        raise CatalogError(path, f"{text!r} is not a valid name (letters, digits, '_', '-')")
    return text


def key_name(key: str, path: str) -> str:
    """A mapping key used as a name (validated at the key's own path)."""
    return name(key, at(path, key))


def names(value: Any, path: str) -> tuple[str, ...]:
    """A list of distinct names."""
    items = sequence(value, path)
    result = tuple(name(item, at(path, i)) for i, item in enumerate(items))
    for i, item in enumerate(result):
        if item in result[:i]:
            raise CatalogError(at(path, i), f"{item!r} is listed twice")
    return result


def integer(value: Any, path: str, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CatalogError(path, f"expected an integer, got {describe(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise CatalogError(path, f"must be {bound}, got {value}")
    return value


def money_micros(value: Any, path: str) -> int:
    """A non-negative amount given as a decimal string (or an integer), in micro-units."""
    if isinstance(value, float):
        raise CatalogError(
            path,
            f"money must be a quoted decimal string, got the float {value!r}; "
            f'quote it (e.g. "{value}") so it is not rounded to binary',
        )
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise CatalogError(path, f"expected a decimal string, got {describe(value)}")
    if isinstance(value, int):
        amount = Decimal(value)
    else:
        match = _DECIMAL.fullmatch(value)
        if match is None:
            raise CatalogError(path, f'{value!r} is not a decimal number like "0.12"')
        if match.group(1) is not None and len(match.group(1)) > MAX_MONEY_DECIMALS:
            raise CatalogError(path, f"{value!r} has more than {MAX_MONEY_DECIMALS} decimal places")
        amount = Decimal(value)
    if amount < 0:
        raise CatalogError(path, f"must not be negative, got {value!r}")
    return int(amount * MICROS_PER_UNIT)


def clock(value: Any, path: str, *, allow_24: bool) -> datetime.time:
    """A quoted "HH:MM" local time; "24:00" (end of day) becomes 00:00 when allowed."""
    if not isinstance(value, str):
        raise CatalogError(
            path, f'expected a quoted time "HH:MM", got {describe(value)}; quote it in YAML'
        )
    match = _CLOCK.fullmatch(value)
    if match is None:
        raise CatalogError(path, f'{value!r} is not a time "HH:MM"')
    hour, minute = int(match.group(1)), int(match.group(2))
    if allow_24 and (hour, minute) == (24, 0):
        return datetime.time(0, 0)
    if hour > 23 or minute > 59:
        raise CatalogError(path, f"{value!r} is not a valid time of day")
    return datetime.time(hour, minute)
