"""The charger against a store faked at the port: routing, rating, retries and unratable usage."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from engine.charger import Charger
from engine.fingerprints import event_fingerprint, refund_fingerprint, session_fingerprint
from engine.routes import RouteCache
from engine.validation import Limits
from tarif_balances.model import (
    Action,
    EventStep,
    InvalidEvent,
    Money,
    RefundStep,
    Route,
    SessionOp,
    SessionStep,
)
from tarif_balances.ports import StoredBalance
from tarif_common import request_ids
from tarif_common.errors import InvalidRequest
from tarif_common.results import Result
from tests.unit.engine.fakes import AT, NOW, QUOTE, Catalog, FakeStore

ROUTE = Route(3, "acct-1", "basic")
VOICE = {"destination": "39061234"}


def charger(store: FakeStore, routes: RouteCache | None = None) -> Charger:
    return Charger(
        store, Catalog(), routes or RouteCache(100), Limits(10**6, 3600, 60), lambda: NOW
    )


def event(event_id: str, subscriber: str = "386401", **changes: Any) -> EventStep:
    step = EventStep(subscriber, "voice", event_id, AT, VOICE, 60)
    return replace(step, **changes)


def session(op: SessionOp, number: int, **changes: Any) -> SessionStep:
    step = SessionStep(op, "386401", "voice", "call-1", number, AT, VOICE, 60, 0)
    return replace(step, **changes)


async def test_a_batch_is_one_store_call_with_the_rate_and_cycle_of_each_event() -> None:
    store = FakeStore(routes={"386401": ROUTE, "386402": Route(3, "acct-2", "basic")})
    outcomes = await charger(store).events([event("e1"), event("e2", "386402"), event("e3")])
    assert [(o.result, o.event_id) for o in outcomes] == [
        (Result.SUCCESS, "e1"),
        (Result.SUCCESS, "e2"),
        (Result.SUCCESS, "e3"),
    ]
    assert store.resolved == [["386401", "386402"]]  # one MGET, each subscriber once
    (batch,) = store.batches
    assert [(c.route.account, c.step.event_id) for c in batch] == [
        ("acct-1", "e1"),
        ("acct-2", "e2"),
        ("acct-1", "e3"),
    ]
    assert {c.quote for c in batch} == {QUOTE}
    assert {c.cycle for c in batch} == {"202611"}  # the month in the catalog's time zone


async def test_a_stale_route_is_resolved_again_and_retried_once() -> None:
    routes = RouteCache(100)
    routes.put("386401", Route(3, "gone", "basic"))  # cached before the identifier moved
    store = FakeStore(routes={"386401": ROUTE}, moved={"gone"})
    (outcome,) = await charger(store, routes).events([event("e1")])
    assert outcome.result is Result.SUCCESS
    assert store.resolved == [["386401"]]  # the cached route first, then a fresh read
    assert [[c.route.account for c in batch] for batch in store.batches] == [["gone"], ["acct-1"]]
    assert routes.get("386401") == ROUTE


async def test_a_cached_route_on_a_plan_the_catalog_lacks_is_read_again_first() -> None:
    routes = RouteCache(100)
    routes.put("386401", Route(3, "acct-1", "retired"))  # the plan left the catalog since
    store = FakeStore(routes={"386401": ROUTE})
    (outcome,) = await charger(store, routes).events([event("e1")])
    assert outcome.result is Result.SUCCESS
    assert store.resolved == [["386401"]]  # read once, before rating
    assert [[c.route.plan for c in batch] for batch in store.batches] == [["basic"]]
    assert routes.get("386401") == ROUTE


async def test_a_fresh_route_on_a_plan_the_catalog_lacks_is_rating_failed() -> None:
    routes = RouteCache(100)
    routes.put("386401", Route(3, "acct-1", "retired"))
    store = FakeStore(routes={"386401": Route(3, "acct-1", "retired")})
    (outcome,) = await charger(store, routes).events([event("e1")])
    assert (outcome.result, outcome.message) == (Result.RATING_FAILED, "unknown plan 'retired'")
    assert store.resolved == [["386401"]]  # once, not again and again
    assert store.batches == []
    assert [(u.step.event_id, u.reason) for u in store.unrated] == [("e1", "no_tariff")]


async def test_a_route_stale_twice_is_an_unknown_subscriber_kept_as_unrated() -> None:
    store = FakeStore(routes={"386401": ROUTE}, moving={"acct-1"})
    (outcome,) = await charger(store).events([event("e1")])
    assert (outcome.result, outcome.message) == (
        Result.USER_UNKNOWN,
        "subscriber moved while charging",
    )
    assert len(store.batches) == 2
    assert [(u.step.event_id, u.reason) for u in store.unrated] == [("e1", "unknown_subscriber")]


async def test_unratable_debits_are_kept_with_why_and_never_reach_the_store() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    outcomes = await charger(store).events(
        [
            event("e1", "999"),  # nobody has this identifier
            event("e2", service="fax"),  # no such service type
            event("e3", attributes={}),  # the rating field is missing
            event("e4", "999", action=Action.CHECK_BALANCE),  # a check is not usage
            event("e5"),
        ]
    )
    assert [o.result for o in outcomes] == [
        Result.USER_UNKNOWN,
        Result.RATING_FAILED,
        Result.RATING_FAILED,
        Result.USER_UNKNOWN,
        Result.SUCCESS,
    ]
    assert [[c.step.event_id for c in batch] for batch in store.batches] == [["e5"]]
    assert [(u.step.event_id, u.reason) for u in store.unrated] == [
        ("e1", "unknown_subscriber"),
        ("e2", "unknown_service"),
        ("e3", "missing_rating_field"),
    ]
    assert store.unrated[1].message == outcomes[1].message


async def test_a_session_is_rated_at_start_only_and_retried_after_a_stale_route() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    charging = charger(store)
    started = await charging.session(session(SessionOp.START, 0))
    store.moved.add("acct-1")
    updated = await charging.session(session(SessionOp.UPDATE, 1, used_units=30))
    assert (started.result, started.granted_units) == (Result.SUCCESS, 60)
    assert updated.result is Result.SUCCESS
    assert [(c.step.op, c.quote) for c in store.sessions] == [
        (SessionOp.START, QUOTE),
        (SessionOp.UPDATE, None),  # the session keeps the rate it started with
        (SessionOp.UPDATE, None),  # the retry after the stale route
    ]


async def test_a_session_start_that_cannot_be_rated_reaches_no_store() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    outcome = await charger(store).session(session(SessionOp.START, 0, service="fax"))
    assert outcome.result is Result.RATING_FAILED
    assert store.sessions == []


async def test_a_refund_is_retried_after_a_stale_route() -> None:
    store = FakeStore(routes={"386401": ROUTE}, moved={"acct-1"})
    outcome = await charger(store).refund(RefundStep("386401", "r1", "e1", AT))
    assert outcome.result is Result.SUCCESS
    assert outcome.refunded == Money("EUR", 12, 2)
    assert [c.step.refund_id for c in store.refunds] == ["r1", "r1"]


async def test_balances_show_what_is_available_now_in_the_resource_unit() -> None:
    now_ms = int(NOW * 1000)
    store = FakeStore(
        routes={"386401": ROUTE},
        held=[
            StoredBalance("main", "EUR", 1000, 200, -500, 0, 0, 0),  # postpaid: floor -5.00
            StoredBalance("min", "voice_seconds", 600, 0, 0, 0, now_ms + 1000, 1),
            StoredBalance("old", "voice_seconds", 600, 0, 0, 0, now_ms, 1),  # just expired
            StoredBalance("less", "voice_seconds", 10, 30, 0, 0, 0, 2),
        ],
    )
    sheet = await charger(store).balances("386401")
    assert (sheet.result, sheet.account) == (Result.SUCCESS, "acct-1")
    assert [(b.id, b.unit, b.amount, b.reserved, b.available) for b in sheet.balances] == [
        ("main", "EUR", 1000, 200, 1300),
        ("less", "second", 10, 30, 0),
        ("min", "second", 600, 0, 600),
    ]
    assert sheet.balances[2].valid_to is not None
    assert (await charger(store).balances("999")).result is Result.USER_UNKNOWN


async def test_an_invalid_event_is_answered_in_its_slot_and_the_rest_is_charged() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    outcomes = await charger(store).events(
        [
            event("e1"),
            event("e2", "nobody", units=0),  # invalid: not charged, not kept as unratable
            InvalidEvent("e3", "events[2].action: unknown requested action 7"),  # from convert
            event("e4"),
        ]
    )
    assert [(o.result, o.event_id, o.message) for o in outcomes] == [
        (Result.SUCCESS, "e1", ""),
        (Result.INVALID_REQUEST, "e2", "events[1].units: must be at least 1"),
        (Result.INVALID_REQUEST, "e3", "events[2].action: unknown requested action 7"),
        (Result.SUCCESS, "e4", ""),
    ]
    assert [[c.step.event_id for c in batch] for batch in store.batches] == [["e1", "e4"]]
    assert store.resolved == [["386401"]]  # the invalid event's subscriber is not even looked up
    assert store.unrated == []


async def test_a_batch_of_invalid_events_reaches_no_store() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    (outcome,) = await charger(store).events([event("e1", units=0)])
    assert (outcome.result, outcome.message) == (
        Result.INVALID_REQUEST,
        "events[0].units: must be at least 1",
    )
    assert (store.resolved, store.batches, store.unrated) == ([], [], [])


async def test_a_single_invalid_event_raises() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    with pytest.raises(InvalidRequest, match=r"^units: must be at least 1$"):
        await charger(store).event(event("e1", units=0))
    assert store.batches == []


async def test_stored_requests_carry_their_fingerprint_and_enquiries_none() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    charging = charger(store)
    debit, enquiry = event("e1"), event("e2", action=Action.PRICE_ENQUIRY)
    await charging.events([debit, enquiry])
    await charging.session(session(SessionOp.START, 0))
    refund = RefundStep("386401", "r1", "e1", AT)
    await charging.refund(refund)
    (batch,) = store.batches
    assert [c.fingerprint for c in batch] == [event_fingerprint(debit), ""]
    assert store.sessions[0].fingerprint == session_fingerprint(session(SessionOp.START, 0))
    assert store.refunds[0].fingerprint == refund_fingerprint(refund)


async def test_every_call_carries_the_request_id_of_the_call_that_made_it() -> None:
    store = FakeStore(routes={"386401": ROUTE})
    charging = charger(store)
    refund = RefundStep("386401", "r1", "e1", AT)
    with request_ids.bound("rq-1"):
        await charging.events([event("e1"), event("e2")])
        await charging.session(session(SessionOp.START, 0))
        await charging.refund(refund)
    await charging.event(event("e3"))  # outside a call: none
    assert [[c.x_request_id for c in batch] for batch in store.batches] == [
        ["rq-1", "rq-1"],
        [""],
    ]
    assert (store.sessions[0].x_request_id, store.refunds[0].x_request_id) == ("rq-1", "rq-1")
