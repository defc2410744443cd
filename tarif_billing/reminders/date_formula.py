"""Date formulas, as Business Central writes them: `+1M-1D`, `CM+5D`, `14D`, `-CW`.

A reminder level's grace period and due date, and a custom automation cadence, are date
formulas: they move a date, term after term, left to right.

Grammar (letters in either case, spaces ignored; the first term may leave out its `+`):

    formula := term { term }
    term    := [ "+" | "-" ] ( count unit | "C" period )
    count   := 1 to 4 digits (0 to 9999)
    unit    := "D" (days) | "W" (weeks) | "M" (months) | "Q" (quarters) | "Y" (years)
    period  := "W" | "M" | "Q" | "Y"

- `nD` adds n days, `nW` 7n days; `nM`, `nQ` (3n months) and `nY` keep the day of the month,
  clipped to the month's last day (31 January + 1M = 28 or 29 February; 29 February + 1Y =
  28 February): python-dateutil's `relativedelta`. A `-` subtracts.
- `C` + a period is the **current** period's last day: `CW` the Sunday of the date's ISO week,
  `CM` the month's last day, `CQ` the quarter's, `CY` 31 December. With `-` it is the period's
  first day: `-CW` the Monday, `-CM` the 1st, `-CQ`, `-CY` 1 January.

So `CM+5D` is the 5th of the next month, `+1M-1D` the day before the same day next month, and
`-CM+1M-1D` the month's last day again. The canonical text (`str(formula)`) writes each term
with its sign except a leading `+`: `CM+5D`, `1M-1D`, `-CM`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal, cast

from dateutil.relativedelta import relativedelta

Unit = Literal["D", "W", "M", "Q", "Y"]
MAX_COUNT = 9999
MAX_TERMS = 20

_TERM = re.compile(r"([+-]?)(?:(\d{1,4})([DWMQY])|C([WMQY]))")


class FormulaError(ValueError):
    """The text is not a date formula; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Term:
    sign: int  # +1 or -1
    unit: Unit
    count: int | None  # None: "C" + unit, the current period's end (or start with -)

    def __str__(self) -> str:
        sign = "+" if self.sign > 0 else "-"
        body = f"C{self.unit}" if self.count is None else f"{self.count}{self.unit}"
        return sign + body

    def apply(self, day: date) -> date:
        if self.count is None:
            return _period_end(day, self.unit) if self.sign > 0 else _period_start(day, self.unit)
        n = self.sign * self.count
        if self.unit == "D":
            return day + timedelta(days=n)
        if self.unit == "W":
            return day + timedelta(weeks=n)
        months = {"M": n, "Q": 3 * n, "Y": 12 * n}[self.unit]
        moved: date = day + relativedelta(months=months)
        return moved


@dataclass(frozen=True, slots=True)
class DateFormula:
    """A parsed formula: its terms, applied left to right."""

    terms: tuple[Term, ...]

    def __str__(self) -> str:
        text = "".join(str(t) for t in self.terms)
        return text.removeprefix("+")

    def apply(self, day: date) -> date:
        """`day` moved by every term in turn. OverflowError past year 1 or 9999."""
        for term in self.terms:
            day = term.apply(day)
        return day


def parse(text: str) -> DateFormula:
    """The formula `text` writes; FormulaError naming the first thing that is not a term."""
    if not isinstance(text, str):
        raise FormulaError("a date formula is text, e.g. 1M-1D")
    compact = "".join(text.split()).upper()
    if not compact:
        raise FormulaError("the date formula is empty (e.g. 14D, 1M-1D, CM+5D)")
    terms: list[Term] = []
    at = 0
    while at < len(compact):
        match = _TERM.match(compact, at)
        if match is None or (terms and not match[1]):
            rest = compact[at:]
            if terms and match is not None:
                why = "each term after the first starts with + or -"
            else:
                why = "expected [+|-] then a count and D, W, M, Q or Y, or C and W, M, Q or Y"
            raise FormulaError(f"{text.strip()!r} at {rest!r}: {why}")
        sign = -1 if match[1] == "-" else 1
        if match[2] is not None:
            count = int(match[2])  # four digits at most: <= MAX_COUNT
            terms.append(Term(sign, cast(Unit, match[3]), count))
        else:
            terms.append(Term(sign, cast(Unit, match[4]), None))
        if len(terms) > MAX_TERMS:
            raise FormulaError(f"{text.strip()!r}: at most {MAX_TERMS} terms")
        at = match.end()
    return DateFormula(tuple(terms))


def canonical(text: str) -> str:
    """The canonical text of a formula (FormulaError if it is none)."""
    return str(parse(text))


# Four whole years from a Monday in a leap year: every weekday, month end and 29 February, so
# a formula that moves none of these dates backwards (or keeps all of them) does so for any date.
_SAMPLE_START = date(2024, 1, 1)
SAMPLE_DAYS = tuple(_SAMPLE_START + timedelta(days=i) for i in range(4 * 365 + 1))


@lru_cache(maxsize=1024)
def never_backwards(formula: DateFormula) -> bool:
    """True when the formula never gives a date before the one it is applied to (a grace
    period, a due date calculation)."""
    return all(formula.apply(d) >= d for d in SAMPLE_DAYS)


@lru_cache(maxsize=1024)
def always_forwards(formula: DateFormula) -> bool:
    """True when the formula always gives a later date (a cadence: each run after the last)."""
    return all(formula.apply(d) > d for d in SAMPLE_DAYS)


def _period_start(day: date, unit: Unit) -> date:
    if unit == "D":
        return day
    if unit == "W":
        return day - timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    if unit == "Q":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _period_end(day: date, unit: Unit) -> date:
    if unit == "D":
        return day
    if unit == "W":
        return day + timedelta(days=6 - day.weekday())
    start = _period_start(day, unit)
    months = {"M": 1, "Q": 3, "Y": 12}[unit]
    end: date = start + relativedelta(months=months) - timedelta(days=1)
    return end
