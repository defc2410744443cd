"""Date formulas (grace periods, due dates, custom cadences): the grammar, what each term does,
and the properties a cadence relies on, over generated formulas and dates."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tarif_billing.reminders.cadence import Cadence, first_run, next_after
from tarif_billing.reminders.date_formula import (
    DateFormula,
    FormulaError,
    Term,
    always_forwards,
    canonical,
    never_backwards,
    parse,
)

dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31))
counted = st.builds(
    Term,
    sign=st.sampled_from([1, -1]),
    unit=st.sampled_from(["D", "W", "M", "Q", "Y"]),
    count=st.integers(0, 60),
)
current = st.builds(
    Term, sign=st.sampled_from([1, -1]), unit=st.sampled_from(["W", "M", "Q", "Y"]), count=st.none()
)
formulas = st.lists(st.one_of(counted, current), min_size=1, max_size=6).map(
    lambda terms: DateFormula(tuple(terms))
)


def _spaced(text: str, draw: st.DrawFn) -> str:
    """The same formula as a person may type it: any case, spaces between terms."""
    out = []
    for ch in text:
        if ch in "+-" and draw(st.booleans()):
            out.append(" ")
        out.append(ch.lower() if draw(st.booleans()) else ch)
    return "".join(out)


@st.composite
def typed(draw: st.DrawFn) -> tuple[DateFormula, str]:
    formula = draw(formulas)
    return formula, _spaced(str(formula), draw)


@given(typed())
def test_the_canonical_text_reads_back_as_the_same_formula(case: tuple[DateFormula, str]) -> None:
    formula, text = case
    assert parse(str(formula)) == formula
    assert parse(text) == formula
    assert canonical(text) == str(formula)
    assert not str(formula).startswith("+")


@given(formulas, dates)
def test_terms_apply_left_to_right(formula: DateFormula, day: date) -> None:
    expected = day
    try:
        for term in formula.terms:
            expected = term.apply(expected)
        got = formula.apply(day)
    except (OverflowError, ValueError):
        return
    assert got == expected
    first, *rest = formula.terms
    if rest:
        assert DateFormula(tuple(rest)).apply(first.apply(day)) == got


@given(dates, st.integers(0, 500))
def test_days_and_weeks_are_exact(day: date, n: int) -> None:
    assert parse(f"{n}D").apply(day) == day + timedelta(days=n)
    assert parse(f"-{n}D").apply(day) == day - timedelta(days=n)
    assert parse(f"+{n}D-{n}D").apply(day) == day
    assert parse(f"{n}W").apply(day) == day + timedelta(weeks=n)


@given(dates, st.integers(0, 240))
def test_months_keep_the_day_clipped_to_the_month_end(day: date, n: int) -> None:
    moved = parse(f"{n}M").apply(day)
    year, month = divmod(day.year * 12 + day.month - 1 + n, 12)
    assert (moved.year, moved.month) == (year, month + 1)
    assert moved.day == min(day.day, calendar.monthrange(moved.year, moved.month)[1])
    assert parse(f"{n}Q").apply(day) == parse(f"{3 * n}M").apply(day)
    assert parse(f"{n}Y").apply(day) == parse(f"{12 * n}M").apply(day)


@given(dates)
def test_current_period_ends_and_starts(day: date) -> None:
    last = calendar.monthrange(day.year, day.month)[1]
    assert parse("CM").apply(day) == day.replace(day=last)
    assert parse("-CM").apply(day) == day.replace(day=1)
    assert parse("CY").apply(day) == date(day.year, 12, 31)
    assert parse("-CY").apply(day) == date(day.year, 1, 1)
    sunday, monday = parse("CW").apply(day), parse("-CW").apply(day)
    assert (sunday.isoweekday(), monday.isoweekday()) == (7, 1)
    assert monday <= day <= sunday
    assert (sunday - monday).days == 6
    quarter_end = parse("CQ").apply(day)
    assert quarter_end.month in (3, 6, 9, 12)
    assert 0 <= (quarter_end - day).days < 92
    assert parse("-CM+1M-1D").apply(day) == parse("CM").apply(day)
    assert parse("CM+5D").apply(day) == parse("CM").apply(day) + timedelta(days=5)


def test_worked_examples() -> None:
    assert parse("+1M-1D").apply(date(2027, 1, 31)) == date(2027, 2, 27)
    assert parse("1M-1D").apply(date(2027, 1, 1)) == date(2027, 1, 31)
    assert parse("CM+5D").apply(date(2026, 12, 16)) == date(2027, 1, 5)
    assert parse("1Y").apply(date(2028, 2, 29)) == date(2029, 2, 28)
    assert parse("-CW").apply(date(2026, 11, 29)) == date(2026, 11, 23)  # a Sunday
    assert str(parse(" +cm + 5d ")) == "CM+5D"
    assert str(parse("-1m+0d")) == "-1M+0D"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "M", "1", "5X", "1M1D", "C", "CD", "+", "1M-", "++1D", "12345D", "1.5D", "CM5D"],
)
def test_what_is_not_a_formula(text: str) -> None:
    with pytest.raises(FormulaError):
        parse(text)


@given(st.text(max_size=30))
def test_any_text_parses_or_says_why(text: str) -> None:
    try:
        formula = parse(text)
    except FormulaError as exc:
        message = str(exc)
    else:
        assert parse(str(formula)) == formula
        return
    assert message


@settings(deadline=None)
@given(formulas)
def test_forwards_and_backwards_checks_agree_with_the_sample(formula: DateFormula) -> None:
    if always_forwards(formula):
        assert never_backwards(formula)


@settings(deadline=None)
@given(formulas.filter(always_forwards), dates)
def test_an_advancing_formula_advances_every_date(formula: DateFormula, day: date) -> None:
    assume(date(1901, 1, 1) < day < date(2199, 1, 1))
    assert formula.apply(day) > day


def test_which_formulas_advance() -> None:
    assert always_forwards(parse("CM+5D"))
    assert always_forwards(parse("1M-1D"))
    assert always_forwards(parse("1W"))
    assert not always_forwards(parse("CM"))  # the last day of a month gives itself
    assert not always_forwards(parse("0D"))
    assert not always_forwards(parse("-1D"))
    assert never_backwards(parse("CM"))
    assert never_backwards(parse("0D"))
    assert not never_backwards(parse("-CM"))


# -- cadences ---------------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Europe/Ljubljana"])
advancing = st.sampled_from(["CM+5D", "1M-1D", "1W", "2D", "CW+1D", "1Q", "-CM+1M+14D"])


@st.composite
def cadences(draw: st.DrawFn) -> Cadence:
    kind = draw(st.sampled_from(["weekly", "monthly", "custom"]))
    formula = draw(advancing) if kind == "custom" else None
    return Cadence(kind=kind, formula=formula, starts_at=draw(starts), time_zone=draw(zones))


@settings(deadline=None)
@given(cadences(), st.integers(0, 3 * 365 * 24))
def test_the_next_run_is_strictly_later_and_none_is_skipped(cadence: Cadence, hours: int) -> None:
    assert cadence.starts_at is not None
    t = cadence.starts_at + timedelta(hours=hours)
    due = first_run(cadence)
    assert due == cadence.starts_at
    runs = [due]
    while runs[-1] is not None and runs[-1] <= t:
        runs.append(next_after(cadence, runs[-1], runs[-1]))
        assert runs[-1] is not None
        assert runs[-1] > runs[-2]
    # one step from any time between two runs gives the next run: none is skipped
    nxt = next_after(cadence, runs[-2], t)
    assert nxt == runs[-1]
    assert nxt is not None
    assert nxt > t


def test_cadence_rules() -> None:
    start = datetime(2027, 1, 31, 8, tzinfo=UTC)
    monthly = Cadence(kind="monthly", starts_at=start, time_zone="UTC")
    assert next_after(monthly, start, start) == datetime(2027, 2, 28, 8, tzinfo=UTC)
    assert next_after(monthly, None, datetime(2027, 3, 1, tzinfo=UTC)) == datetime(
        2027, 3, 31, 8, tzinfo=UTC
    )  # counted from the start: no drift to the 28th
    custom = Cadence(kind="custom", formula="cm + 5d", starts_at=start, time_zone="UTC")
    assert custom.formula == "CM+5D"
    assert next_after(custom, start, start) == datetime(2027, 2, 5, 8, tzinfo=UTC)
    assert next_after(Cadence(kind="manual"), None, start) is None
    # a missed stretch: one run, then the first run after that time
    later = datetime(2027, 6, 10, tzinfo=UTC)
    assert next_after(custom, start, later) == datetime(2027, 7, 5, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "custom", "starts_at": "2027-01-01T00:00:00Z"}, "needs a date formula"),
        ({"kind": "custom", "formula": "CM", "starts_at": "2027-01-01T00:00:00Z"}, "forwards"),
        ({"kind": "custom", "formula": "1X", "starts_at": "2027-01-01T00:00:00Z"}, "expected"),
        ({"kind": "weekly"}, "needs starts_at"),
        ({"kind": "manual", "starts_at": "2027-01-01T00:00:00Z"}, "Start only"),
        ({"kind": "weekly", "formula": "1W", "starts_at": "2027-01-01T00:00:00Z"}, "only a custom"),
        ({"kind": "weekly", "starts_at": "2027-01-01T00:00:00Z", "time_zone": "Mars/X"}, "zone"),
    ],
)
def test_bad_cadences_are_refused(body: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Cadence.model_validate(body)
