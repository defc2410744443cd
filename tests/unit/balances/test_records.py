"""The rated record: read typed, refused when malformed, and documented field for field."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings

from tarif_balances.model import Impact
from tarif_balances.records import (
    BATCH,
    COMPACT,
    FIELDS,
    POSITIONAL,
    RECORDS_SEPARATOR,
    REQUIRED,
    SEPARATOR,
    RatedRecord,
    RecordKind,
    UnreadableRecord,
    compact_text,
    entry_records,
    flat,
    impacts_text,
    parse_record,
    read_flat,
    record_fields,
)
from tests.unit.balances.record_entries import entries

ARCHITECTURE = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"

EVENT = {
    "id": "e:x1", "k": "event", "acct": "a1", "sub": "38640", "svc": "sms", "rate": "sms-std:",
    "t": "1795000000000", "at": "1795000000123", "u": "1", "ru": "1", "cost": "15", "cur": "BHD",
    "dec": "3", "imp": "free|sms_count|-1,o1/main|BHD|-15", "unc": "0", "sid": "",
    "attrs": '{"destination":"386"}',
}  # fmt: skip


def test_a_record_reads_typed() -> None:
    assert parse_record(EVENT) == RatedRecord(
        request_id="e:x1",
        kind=RecordKind.EVENT,
        account_id="a1",
        subscriber="38640",
        service="sms",
        rate="sms-std:",
        event_time=datetime(2026, 11, 18, 11, 6, 40, tzinfo=UTC),
        charged_at=datetime(2026, 11, 18, 11, 6, 40, 123000, tzinfo=UTC),
        units=1,
        rated_units=1,
        cost=15,
        currency="BHD",
        decimals=3,
        impacts=(Impact("free", "sms_count", -1), Impact("o1/main", "BHD", -15)),
        uncovered=0,
        session_id="",
        attributes={"destination": "386"},
    )
    assert impacts_text(parse_record(EVENT).impacts) == EVENT["imp"]


def test_optional_fields() -> None:
    older = {k: v for k, v in EVENT.items() if k != "dec"}
    assert parse_record(older).decimals is None  # written before records carried decimals
    adjust = EVENT | {"k": "adjust", "imp": "", "ref": "", "reason": "goodwill", "attrs": ""}
    record = parse_record(adjust)
    assert (record.kind, record.impacts, record.reason, record.attributes) == (
        RecordKind.ADJUST,
        (),
        "goodwill",
        {},
    )
    assert parse_record(EVENT | {"k": "refund", "ref": "x0"}).refunded_event == "x0"
    assert parse_record(EVENT).x_request_id == ""  # written before records carried it
    assert parse_record(EVENT | {"rq": "4f1d"}).x_request_id == "4f1d"
    assert read_flat(EVENT | {"rq": "4f1d"})[-1] == "4f1d"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"k": "bonus"}, "bonus"),
        ({"dec": "two"}, "two"),
        ({"dec": "-1"}, "decimals"),
        ({"cost": "1.5"}, "1.5"),
        ({"imp": "main|EUR"}, "unpack"),
        ({"attrs": "{"}, "x1"),
        ({"t": "soon"}, "soon"),
    ],
)
def test_a_malformed_record_is_unreadable(change: dict[str, str], why: str) -> None:
    with pytest.raises(UnreadableRecord, match=why):
        parse_record(EVENT | change)


def test_a_record_without_a_required_field_is_unreadable() -> None:
    for name in REQUIRED:
        with pytest.raises(UnreadableRecord, match=f"without {name}"):
            parse_record({k: v for k, v in EVENT.items() if k != name})


def test_the_architecture_page_documents_every_field_as_defined() -> None:
    text = ARCHITECTURE.read_text()
    section = text[text.index("### Rated record") : text.index("## The atomic step")]
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", section, re.MULTILINE)
    assert {name: meaning.replace("\\|", "|") for name, meaning in rows} == dict(FIELDS)


def outcome(read: Callable[[], object]) -> tuple[str, str]:
    """What a reader gave, compared exactly: the value's repr (so 0.00 is not 0 and every type
    counts) or the error's type and message."""
    try:
        return "read", repr(read())
    except Exception as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(entries())
def test_read_flat_gives_what_parse_record_gives(fields: dict[str, str]) -> None:
    assert outcome(lambda: read_flat(fields)) == outcome(lambda: flat(parse_record(fields)))


def test_read_flat_reads_a_record_as_add_record_writes_it() -> None:
    assert read_flat(EVENT) == flat(parse_record(EVENT))
    assert read_flat(EVENT)[:3] == ("e:x1", "event", "a1")
    assert read_flat(EVENT)[13] == "free|sms_count|-1,o1/main|BHD|-15"
    with pytest.raises(UnreadableRecord, match="without t"):
        read_flat({k: v for k, v in EVENT.items() if k != "t"})


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(entries())
def test_the_compact_form_reads_as_the_long_form(fields: dict[str, str]) -> None:
    if not fields.keys() >= REQUIRED or "dec" not in fields:
        return  # add_record writes every positional field; the long form covers the rest
    if any(SEPARATOR in v for v in fields.values()):
        return  # add_record keeps such a record in the long form
    compact = {COMPACT: compact_text(fields)}
    assert record_fields(compact) == fields
    assert outcome(lambda: read_flat(compact)) == outcome(lambda: read_flat(fields))
    assert outcome(lambda: parse_record(compact)) == outcome(lambda: parse_record(fields))


def test_a_compact_record_reads_like_its_long_form() -> None:
    refund = EVENT | {"k": "refund", "ref": "x0", "rq": "rq-1"}
    text = SEPARATOR.join([refund[name] for name in POSITIONAL] + ["ref", "x0", "rq", "rq-1"])
    assert compact_text(refund) == text
    assert record_fields({COMPACT: text}) == refund
    assert parse_record({COMPACT: text}) == parse_record(refund)
    assert read_flat({COMPACT: text}) == read_flat(refund)
    assert record_fields(EVENT) is EVENT  # the long form as it is
    for bad in (text.rsplit(SEPARATOR, 1)[0], SEPARATOR.join(EVENT[n] for n in POSITIONAL[:-1])):
        with pytest.raises(UnreadableRecord, match="compact rated record"):
            read_flat({COMPACT: bad})
        with pytest.raises(UnreadableRecord, match="compact rated record"):
            parse_record({COMPACT: bad})


def test_an_entry_of_a_chunk_holds_its_records() -> None:
    one = compact_text(EVENT)
    other = compact_text(EVENT | {"id": "e:x2", "rq": "rq-2"})
    records = entry_records({BATCH: one + RECORDS_SEPARATOR + other})
    assert records == [{COMPACT: one}, {COMPACT: other}]
    assert [read_flat(r)[0] for r in records] == ["e:x1", "e:x2"]
    assert parse_record(records[1]).x_request_id == "rq-2"
    assert entry_records(EVENT) == [EVENT]  # a record alone, in either form
    assert entry_records({COMPACT: one}) == [{COMPACT: one}]


def test_times_are_exact_milliseconds_and_out_of_range_is_unreadable() -> None:
    last = EVENT | {"t": "253402300799999"}  # 9999-12-31 23:59:59.999
    assert parse_record(last).event_time == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    for beyond in ("253402300800000", str(10**20), str(-(10**20))):
        with pytest.raises(UnreadableRecord, match="out of range"):
            parse_record(EVENT | {"t": beyond})
