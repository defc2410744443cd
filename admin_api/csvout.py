"""CSV exports: streamed in chunks, values safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any


def cell(value: Any) -> Any:
    """Dates as ISO 8601, objects as JSON; a text starting like a formula gets a quote."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # no formula injection when opened in a spreadsheet
    return "" if value is None else value


def lines(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()
