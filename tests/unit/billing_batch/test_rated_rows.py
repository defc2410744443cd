"""A rated record's money is stored with its own decimals; an older record's with the catalog's."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_batch.rated import COLUMNS, LegacyDecimals, record_count, record_row, to_row
from billing_batch.streams import Entry
from tarif_balances.records import (
    BATCH,
    RECORDS_SEPARATOR,
    UnreadableRecord,
    entry_records,
    parse_record,
)
from tests.unit.balances.record_entries import entries

RECORD = {
    "id": "s:c1#2", "k": "end", "acct": "a1", "sub": "38640", "svc": "voice", "rate": "v:39",
    "t": "1795000000000", "at": "1795000000000", "u": "90", "ru": "120", "cost": "1234",
    "cur": "JPY", "dec": "0", "imp": "main|JPY|-1000", "unc": "234", "sid": "c1",
    "attrs": '{"destination":"39"}',
}  # fmt: skip


def money(row: tuple[object, ...]) -> tuple[object, object, object]:
    named = dict(zip(COLUMNS, row, strict=True))
    return named["cost"], named["uncovered"], named["currency"]


def catalog(currency: str) -> int | None:
    return {"JPY": 0, "EUR": 2}.get(currency)


def test_the_record_s_decimals_win() -> None:
    assert money(to_row(RECORD)) == (Decimal(1234), Decimal(234), "JPY")
    eur = RECORD | {"cur": "EUR", "dec": "2"}
    assert money(to_row(eur, catalog)) == (Decimal("12.34"), Decimal("2.34"), "EUR")
    # a catalog that no longer agrees does not change what the engine charged
    assert money(to_row(RECORD | {"dec": "3"}, catalog)) == (
        Decimal("1.234"),
        Decimal("0.234"),
        "JPY",
    )


def test_an_older_record_asks_the_catalog() -> None:
    older = {k: v for k, v in RECORD.items() if k != "dec"} | {"cur": "EUR"}
    assert money(to_row(older, catalog)) == (Decimal("12.34"), Decimal("2.34"), "EUR")
    with pytest.raises(UnreadableRecord, match="no decimals for EUR"):
        to_row(older)  # no catalog: never guessed
    with pytest.raises(UnreadableRecord, match="no decimals for XTS"):
        to_row(older | {"cur": "XTS"}, catalog)
    nothing = older | {"cost": "0", "unc": "0", "cur": "XTS"}
    assert money(to_row(nothing)) == (Decimal(0), Decimal(0), "XTS")
    adjust = older | {"k": "adjust", "cost": "0", "unc": "0", "cur": "", "ref": "", "reason": "r"}
    assert money(to_row(adjust)) == (Decimal(0), Decimal(0), "")


def test_the_row_keeps_what_the_record_says() -> None:
    row = dict(zip(COLUMNS, to_row(RECORD | {"ref": "x"}), strict=True))
    assert {k: row[k] for k in ("request_id", "kind", "units", "rated_units", "impacts")} == {
        "request_id": "s:c1#2",
        "kind": "end",
        "units": 90,
        "rated_units": 120,
        "impacts": "main|JPY|-1000",
    }
    assert (row["session_id"], row["refunded"], row["attributes"]) == (
        "c1",
        "x",
        {"destination": "39"},
    )
    assert row["x_request_id"] is None  # no `rq`: NULL, as for records written before it
    traced = dict(zip(COLUMNS, to_row(RECORD | {"rq": "4f1d"}), strict=True))
    assert traced["x_request_id"] == "4f1d"
    assert record_row(parse_record(RECORD | {"rq": "4f1d"}))[-1] == "4f1d"


def outcome(read: Callable[[], object]) -> tuple[str, str]:
    """A row compared exactly (repr: 0.00 is not 0, every type counts), or the error."""
    try:
        return "row", repr(read())
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(entries(), st.sampled_from([None, catalog]))
def test_the_fast_row_is_the_row_of_the_parsed_record(
    fields: dict[str, str], legacy: LegacyDecimals | None
) -> None:
    known = legacy or (lambda currency: None)
    assert outcome(lambda: to_row(fields, known)) == outcome(
        lambda: record_row(parse_record(fields), known)
    )


@given(st.lists(st.text(alphabet="ab\x1e\x1f", max_size=4), min_size=1, max_size=6))
def test_an_entry_s_record_count_is_the_number_of_its_records(texts: list[str]) -> None:
    """The records counter counts without reading: as many as the ingestion stores."""
    chunk = {BATCH: RECORDS_SEPARATOR.join(texts)}
    assert record_count(Entry("s", "1-0", chunk)) == len(entry_records(chunk)) >= len(texts)
    assert record_count(Entry("s", "1-1", RECORD)) == len(entry_records(RECORD)) == 1
