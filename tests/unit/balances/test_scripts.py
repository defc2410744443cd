"""The scripts' calling convention: ARGV as each script's header says, answers read back typed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from importlib import resources

import msgpack  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from tarif_balances.model import (
    EventOutcome,
    EventStep,
    Impact,
    Money,
    RefundStep,
    Route,
    SessionOp,
    SessionOutcome,
    SessionStep,
)
from tarif_balances.ports import (
    STALE_ROUTE,
    EventCall,
    RefundCall,
    SessionCall,
    StoredBalance,
    UnratedEvent,
)
from tarif_balances.scripts import (
    ROUTE_STALE,
    attributes_text,
    event_outcome,
    event_script_call,
    expire_script_call,
    pricing_blob,
    quote_blob,
    refund_outcome,
    refund_script_call,
    session_outcome,
    session_script_call,
    stored_balances,
    unrated_entry,
)
from tarif_catalog import Piece, Quote
from tarif_common.results import Result
from tests.unit.engine.fakes import AT, COMPILED, QUOTE

AT_MS = int(AT.timestamp() * 1000)
ROUTE = Route(4, "acct-1", "basic")


def _argv_count(script: str) -> int:
    """The highest ARGV[n] a script's header names."""
    text = (resources.files("tarif_balances") / "lua" / f"{script}.lua").read_text()
    return max(int(n) for n in re.findall(r"ARGV\[(\d+)\]", text))


def test_session_arguments_follow_the_header() -> None:
    step = SessionStep(SessionOp.START, "386401", "voice", "c1", 0, AT, {"b": "2", "a": "1"}, 60, 0)
    call = SessionCall(ROUTE, step, QUOTE, "202611", "f00d", "rq-1")
    keys, args = session_script_call(call, 7, 60, 300, 30)
    assert len(args) == _argv_count("session") == 20
    assert keys[:2] == ["tarif:{p4}:a:acct-1", "tarif:{p4}:i:acct-1:s:c1#0"]
    assert args[:10] == ["start", "acct-1", "386401", "basic", "c1", 0, 7, AT_MS, 60, 0]
    assert args[10:] == [
        60, 300, 30, quote_blob(QUOTE), '{"a":"1","b":"2"}', "", "", "202611", "f00d", "rq-1",
    ]  # fmt: skip
    assert msgpack.unpackb(args[13], raw=True) == {
        b"r": b"voice-std:39",
        b"x": b"39",
        b"q": [[0, pricing_blob(QUOTE.pricing)]],
    }
    update = SessionStep(SessionOp.UPDATE, "386401", "", "c1", 1, AT, {}, 60, 30)
    _, args = session_script_call(SessionCall(ROUTE, update, None), 7, 60, 300, 30)
    assert args[13] == b""  # the running session keeps its own rate


def test_a_pricing_blob_holds_the_terms_the_scripts_compute_with() -> None:
    pricing = replace(QUOTE.pricing, max_cost=5_000_000 * 60, disconnect=True, band="peak")
    blob = pricing_blob(pricing)
    assert pricing_blob(pricing) is blob  # cached by identity
    assert msgpack.unpackb(blob, raw=False) == {
        "svc": "voice", "mr": "EUR", "cur": "EUR", "d": 2, "mo": "earliest_expiry",
        "fr": [["voice_seconds", "earliest_expiry"]], "cf": 0, "st": [[0, 60]],
        "pr": [[-1, 120_000]], "sc": 60, "rd": 2, "rm": "up", "mx": 300_000_000, "dc": True,
        "t": "voice-std", "b": "peak",
    }  # fmt: skip
    assert msgpack.unpackb(pricing_blob(QUOTE.pricing), raw=False)["mx"] == -1  # no cap


def test_expire_and_refund_arguments_follow_the_headers() -> None:
    member = Route(4, "m1", "", "fam", "o1")
    keys, args = expire_script_call(member, "c1", 9)
    assert len(args) == _argv_count("session")
    assert (args[0], args[1], args[4], args[6], args[15], args[16]) == (
        "expire", "m1", "c1", 9, "fam", "o1",
    )  # fmt: skip
    assert keys[6:] == ["tarif:{p4}:g:fam", "tarif:{p4}:a:o1"]
    assert args[18] == ""  # a release stores no answer: no fingerprint
    assert args[19] == ""  # and answers no call: no request id
    whole = RefundCall(ROUTE, RefundStep("386401", "r1", "e1", AT))
    part = RefundCall(
        ROUTE, RefundStep("386401", "r2", "e1", AT, Money("EUR", 25, 2)), "beef", "rq-2"
    )
    _, args = refund_script_call(whole, 9, 60)
    assert len(args) == _argv_count("refund") == 14
    # everything that is left; no fingerprint, no request id
    assert (args[7], args[9], args[12], args[13]) == (-1, "", "", "")
    keys, args = refund_script_call(part, 9, 60)
    assert (args[7], args[9], args[12], args[13]) == (25, "EUR", "beef", "rq-2")
    assert keys[1:3] == ["tarif:{p4}:i:acct-1:r:r2", "tarif:{p4}:i:acct-1:e:e1"]


def test_an_event_batch_sends_each_rate_once_and_points_at_its_keys() -> None:
    sms = COMPILED.quote("basic", "voice", {"destination": "38640000"}, AT, 5)
    assert sms.pricing is not QUOTE.pricing
    # a call crossing into another band at offset 30: two pieces, the second a rate seen before
    crossing = Quote((Piece(0, "386", sms.pricing), Piece(30, "39", QUOTE.pricing)))

    def call(event_id: str, route: Route, quote: Quote) -> EventCall:
        step = EventStep("386401", "voice", event_id, AT, {"destination": "39"}, 5)
        return EventCall(route, step, quote, "202611", f"h-{event_id}", f"rq-{event_id}")

    member = Route(4, "m1", "basic", "fam", "o1")
    calls = [
        call("e1", ROUTE, QUOTE),
        call("e2", member, sms),
        call("e3", ROUTE, QUOTE),
        call("e4", ROUTE, crossing),
    ]
    keys, args = event_script_call(calls, 7, 60, 5)
    assert args[:3] == [7, 60, 4]
    assert len(args) == 6  # the whole batch is one argument
    assert args[5] == 5  # the retry window of answers nothing refunds
    assert msgpack.unpackb(args[3], raw=True) == [
        pricing_blob(QUOTE.pricing),
        pricing_blob(sms.pricing),
    ]
    events = msgpack.unpackb(args[4], raw=False)
    assert [(e[3], e[7], e[9]) for e in events] == [
        ("e1", [[0, 1]], 5),
        ("e2", [[0, 2]], 7),
        ("e3", [[0, 1]], 11),
        ("e4", [[0, 2], [30, 1]], 13),
    ]
    assert keys[6:10] == [
        "tarif:{p4}:a:m1",
        "tarif:{p4}:i:m1:e:e2",
        "tarif:{p4}:g:fam",
        "tarif:{p4}:a:o1",
    ]
    assert events[1] == [
        "m1", "386401", "basic", "e2", AT_MS, 5, 0, [[0, 2]], '{"destination":"39"}', 7, "fam",
        "o1", "202611", "voice-std:386:peak", "386", "h-e2", "rq-e2",
    ]  # fmt: skip
    assert (events[3][13], events[3][14]) == ("voice-std:386:peak", "386")  # the start's rate


def test_answers_become_outcomes() -> None:
    answer = {"r": 1, "g": 5, "c": 12, "imp": [["main", "EUR", -12]], "cur": "EUR", "d": 2, "n": 1}
    assert event_outcome(answer, "e1") == EventOutcome(
        Result.SUCCESS, "e1", 5, Money("EUR", 12, 2), (Impact("main", "EUR", -12),)
    )
    refused = {"r": 2, "g": 0, "c": 99, "cur": "EUR", "d": 2, "m": "no credit left for voice"}
    assert event_outcome(refused, "e2") == EventOutcome(
        Result.CREDIT_LIMIT_REACHED,
        "e2",
        0,
        Money("EUR", 99, 2),
        message="no credit left for voice",
    )
    session = {"r": 1, "g": 60, "f": True, "c": 0, "sc": 4, "vt": 300, "cur": "EUR", "d": 2}
    assert session_outcome(session) == SessionOutcome(
        Result.SUCCESS, 60, 300, True, Money("EUR", 0, 2), Money("EUR", 4, 2)
    )
    rated = {
        **session, "c": 3, "ru": 120, "tc": 2501, "rd": 4, "t": "voice-std",
        "rt": "voice-std:386:peak", "x": "386", "bs": ["peak", "offpeak"],
    }  # fmt: skip
    assert session_outcome(rated) == SessionOutcome(
        Result.SUCCESS, 60, 300, True, Money("EUR", 3, 2), Money("EUR", 4, 2),
        rated_units=120, tariff="voice-std", rate="voice-std:386:peak", prefix="386",
        bands=("peak", "offpeak"), tariff_cost=Money("EUR", 2501, 4),
    )  # fmt: skip
    split = {**answer, "imp": [["voice", "voice_seconds", -60], ["main", "EUR", -12]],
             "bs": ["peak", "offpeak"]}  # fmt: skip
    assert event_outcome(split, "e3") == EventOutcome(
        Result.SUCCESS, "e3", 5, Money("EUR", 12, 2),
        (Impact("voice", "voice_seconds", -60), Impact("main", "EUR", -12)),
        bands=("peak", "offpeak"),
    )  # fmt: skip
    charged = {**answer, "ru": 60, "tc": 12, "rd": 2, "t": "voice-std", "rt": "voice-std:39",
               "x": "39", "bs": []}  # fmt: skip
    outcome = event_outcome(charged, "e1")
    assert isinstance(outcome, EventOutcome)
    assert (outcome.rated_units, outcome.rate, outcome.prefix, outcome.bands) == (
        60, "voice-std:39", "39", (),
    )  # fmt: skip
    assert outcome.tariff_cost == Money("EUR", 12, 2)
    # a compact answer: defaults left out (`rd` equal to `d`, empty bands, no prefix) read alike
    compact = {k: v for k, v in charged.items() if k not in ("rd", "bs", "x")}
    assert event_outcome(compact, "e1") == event_outcome(charged | {"x": ""}, "e1")
    assert event_outcome(compact, "e1").tariff_cost == Money("EUR", 12, 2)  # type: ignore[union-attr]
    assert session_outcome({"r": 9, "m": "late"}) == SessionOutcome(
        Result.REQUEST_OUT_OF_ORDER, message="late"
    )
    refund = refund_outcome({"r": 1, "c": 5, "imp": [["o1/main", "EUR", 5]], "cur": "JPY", "d": 0})
    assert refund != STALE_ROUTE
    assert refund.refunded == Money("JPY", 5, 0)  # type: ignore[union-attr]
    stale = {"r": ROUTE_STALE}
    assert (
        event_outcome(stale, "e") is session_outcome(stale) is refund_outcome(stale) is STALE_ROUTE
    )


def test_an_account_hash_reads_as_balances_of_its_subscribers_only() -> None:
    fields = {
        "st": "active",
        "s:386401": "basic",
        "b:main": "EUR|0|0|0|-500",
        "a:main": "-120",
        "v:main": "30",
        "b:min": "voice_seconds|1000|2000|1|0",
        "b:pack": "voice_seconds|0|0|0|0|1",  # its free units waive the connect fee
    }
    assert stored_balances(fields, "386402") is None
    assert sorted(stored_balances(fields, "386401") or [], key=lambda b: b.id) == [
        StoredBalance("main", "EUR", -120, 30, -500, 0, 0, 0),
        StoredBalance("min", "voice_seconds", 0, 0, 0, 1000, 2000, 1),
        StoredBalance("pack", "voice_seconds", 0, 0, 0, 0, 0, 0, waives_connect_fee=True),
    ]


def test_an_unrated_entry_keeps_the_event_as_received() -> None:
    step = EventStep("386401", "fax", "e9", AT, {"destination": "39"}, 3)
    assert unrated_entry(UnratedEvent(step, "unknown_service", "no fax"), 11) == {
        "id": "e:e9", "reason": "unknown_service", "m": "no fax", "sub": "386401",
        "svc": "fax", "t": AT_MS, "u": 3, "attrs": '{"destination":"39"}', "at": 11,
    }  # fmt: skip


# plain characters and each kind JSON escapes (quote, backslash, control, DEL, non-ASCII)
_FIELD_TEXT = st.text(st.sampled_from('aZ9 ~:"\\\x00\x1f\x7f\x80\u00e9\u2028') | st.characters())


@settings(max_examples=500)
@given(st.dictionaries(_FIELD_TEXT, _FIELD_TEXT, max_size=3))
def test_rating_fields_are_the_json_text_json_dumps_writes(attributes: dict[str, str]) -> None:
    """Plain fields are written directly; quotes, backslashes, control and non-ASCII characters
    go through json.dumps: the text is the same either way."""
    assert attributes_text(attributes) == (_json(attributes) if attributes else "{}")


def _json(attributes: dict[str, str]) -> str:
    return json.dumps(attributes, separators=(",", ":"), sort_keys=True)


def test_plain_and_escaped_rating_fields() -> None:
    assert attributes_text({"destination": "38641000000"}) == '{"destination":"38641000000"}'
    assert attributes_text({"o": "1", "d": "2"}) == '{"d":"2","o":"1"}'
    assert attributes_text({"d": 'a"b\\c\x7f\x00é'}) == '{"d":"a\\"b\\\\c\\u007f\\u0000\\u00e9"}'
    assert attributes_text({"d": "1", "o": "\n"}) == '{"d":"1","o":"\\n"}'
    for escaped in ('"', "\\", "\x1f", "\x7f", "\u00e9"):  # each one alone
        assert attributes_text({"d": f"1{escaped}"}) == _json({"d": f"1{escaped}"})
        assert attributes_text({f"d{escaped}": "1"}) == _json({f"d{escaped}": "1"})
