"""The Lua scripts price exactly as `tarif_catalog.units.call_cost`, over random inputs.

The functions of `lib.lua` against their Python twins, then whole events (`event.lua`) and whole
sessions split into random reports (`session.lua`) against real Redis: each must cost what
`call_cost` gives for the whole call. Lua numbers are doubles, exact below 2**53: the strategies
stay below it, and the last tests check what happens at it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from redis import Redis

from tarif_balances.model import Action, EventStep, Route, SessionOp, SessionStep
from tarif_balances.ports import EventCall, SessionCall, priced_exactly
from tarif_balances.scripts import (
    event_script_call,
    pack,
    pricing_blob,
    script_source,
    session_script_call,
    unpack,
)
from tarif_catalog import (
    CallCost,
    ConsumptionOrder,
    Piece,
    Pricing,
    Quote,
    Rounding,
    Step,
    UnitPrice,
    call_cost,
    floor_boundary,
    range_cost,
    rated_units,
    to_currency,
)
from tarif_catalog.units import EXACT_LIMIT, Segment, round_div
from tarif_common import keys
from tarif_common.results import Result
from tests.unit.engine.fakes import AT

PARTITION = 3
PLAN = "basic"
NOW_MS = int(AT.timestamp() * 1000)
EXAMPLES = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PROBE = """
local x = cmsgpack.unpack(ARGV[1])
local q = {}
for k, piece in ipairs(x.q) do q[k] = { piece[1], cmsgpack.unpack(piece[2]) } end
local p = q[1][2]
local out = {}
for _, u in ipairs(x.offsets) do
  out[#out + 1] = fmt(rated_units(u, p.st))
  out[#out + 1] = fmt(floor_boundary(u, p.st))
end
for _, r in ipairs(x.ranges) do out[#out + 1] = fmt(range_cost(r[1], r[2], q)) end
for _, n in ipairs(x.divs) do out[#out + 1] = fmt(round_div(n[1], n[2], p.rm)) end
local at_tariff, minor = to_currency(x.scaled, p)
out[#out + 1] = fmt(at_tariff)
out[#out + 1] = fmt(minor)
local rated, free, scaled, at2, minor2, capped, usage = call_cost(x.units, x.free, q, x.waive)
for _, v in ipairs({ rated, free, scaled, at2, minor2, capped and 1 or 0, usage }) do
  out[#out + 1] = fmt(v)
end
return out
"""


def pricing(
    steps: tuple[Step, ...],
    prices: tuple[UnitPrice, ...],
    *,
    fee: int = 0,
    scale: int = 1,
    decimals: int = 2,
    method: Rounding = Rounding.UP,
    currency_decimals: int = 2,
    max_cost: int | None = None,
    disconnect: bool = False,
    band: str | None = None,
) -> Pricing:
    """One rate's terms, built by hand (the catalog's selection is not under test here)."""
    return Pricing(
        tariff_id="voice-x",
        service="voice",
        money_resource="EUR",
        currency="EUR",
        decimals=currency_decimals,
        money_order=ConsumptionOrder.EARLIEST_EXPIRY,
        free_resources=(("voice_seconds", ConsumptionOrder.EARLIEST_EXPIRY),),
        band=band,
        connect_fee=fee,
        steps=steps,
        prices=prices,
        scale=scale,
        rounding_decimals=decimals,
        rounding=method,
        max_cost=max_cost,
        disconnect=disconnect,
    )


@st.composite
def step_lists(draw: st.DrawFn) -> tuple[Step, ...]:
    steps = [Step(0, draw(st.integers(1, 120)))]
    for _ in range(draw(st.integers(0, 2))):
        last = steps[-1]
        steps.append(
            Step(last.start + last.size * draw(st.integers(1, 10)), draw(st.integers(1, 120)))
        )
    return tuple(steps)


@st.composite
def price_lists(draw: st.DrawFn) -> tuple[UnitPrice, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 5000), max_size=2)))
    prices = [UnitPrice(b, draw(st.integers(0, 10**6))) for b in bounds]
    prices.append(UnitPrice(None, draw(st.integers(0, 10**6))))
    return tuple(prices)


@st.composite
def quotes(draw: st.DrawFn, *, capped: bool = True) -> Quote:
    """A call's quote: one to four pieces (each its own rate, maybe of a band), the first's
    terms random: increments, fee, scale, rounding, cap."""
    base = pricing(
        draw(step_lists()),
        draw(price_lists()),
        fee=draw(st.integers(0, 10**7)),
        scale=draw(st.sampled_from([1, 60, 1000, 1 << 20]) | st.integers(1, 3600)),
        decimals=draw(st.integers(0, 6)),
        method=draw(st.sampled_from(list(Rounding))),
        currency_decimals=draw(st.integers(0, 3)),
        max_cost=draw(st.none() | st.integers(0, 10**9)) if capped else None,
        disconnect=draw(st.booleans()),
        band=draw(st.sampled_from([None, "peak"])),
    )
    starts = sorted(draw(st.sets(st.integers(1, 5000), max_size=3)))
    pieces = [Piece(0, "386", base)]
    for start in starts:
        band = draw(st.sampled_from([None, "peak", "offpeak"]))
        pieces.append(Piece(start, "386", replace(base, prices=draw(price_lists()), band=band)))
    return Quote(tuple(pieces))


def expected(units: int, free: int, quote: Quote, waive: bool) -> CallCost:
    return call_cost(units, free, quote.pricing.terms(), quote.schedule(), waive)


def quote_arg(quote: Quote) -> list[list[Any]]:
    return [[piece.start, pricing_blob(piece.pricing)] for piece in quote.pieces]


@pytest.fixture(scope="module")
def client(redis_url: str) -> Iterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
def probe(client: Redis) -> Any:
    lib = (resources.files("tarif_balances") / "lua" / "lib.lua").read_text()
    return client.register_script(lib + "\n" + PROBE)


class Scripts:
    """`event.lua` and `session.lua` as the engine registers them, and accounts written as
    provisioning writes them (one EUR balance `main`, one free balance `min`)."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.event_script = client.register_script(script_source("event"))
        self.session_script = client.register_script(script_source("session"))
        self.serial = itertools.count()

    def account(self, money: int, free: int = 0, waives: bool = False, **more: Any) -> Route:
        account = f"acct-{next(self.serial)}"
        fields: dict[str, Any] = {
            "st": "active",
            "pt": "prepaid",
            f"s:{account}": PLAN,
            "b:main": "EUR|0|0|0|0",
            "a:main": money,
            "b:min": "voice_seconds|0|0|0|0" + ("|1" if waives else ""),
            "a:min": free,
        }
        for name, value in more.items():
            fields[name.replace("__", ":")] = value
        self.client.hset(keys.account(PARTITION, account), mapping=fields)
        return Route(PARTITION, account, PLAN)

    def amount(self, route: Route, balance: str) -> int:
        return int(self.client.hget(keys.account(PARTITION, route.account), f"a:{balance}") or 0)

    def event(self, route: Route, quote: Quote, units: int, event_id: str = "e") -> dict[str, Any]:
        step = EventStep(route.account, "voice", event_id, AT, {}, units, Action.DEBIT)
        script_keys, args = event_script_call(
            [EventCall(route, step, quote, "202611")], NOW_MS, 60, 60
        )
        (raw,) = self.event_script(keys=script_keys, args=args)
        return unpack(raw)

    def session(
        self,
        route: Route,
        op: SessionOp,
        n: int,
        *,
        quote: Quote | None = None,
        requested: int = 0,
        used: int = 0,
    ) -> dict[str, Any]:
        step = SessionStep(op, route.account, "voice", "s1", n, AT, {}, requested, used)
        call = SessionCall(route, step, quote, "202611")
        script_keys, args = session_script_call(call, NOW_MS + n, 60, 300, 30)
        return unpack(self.session_script(keys=script_keys, args=args))


@pytest.fixture(scope="module")
def scripts(client: Redis) -> Scripts:
    return Scripts(client)


@EXAMPLES
@given(
    quote=quotes(),
    offsets=st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 6000), min_size=2, max_size=4),
    divs=st.lists(st.tuples(st.integers(0, 10**15), st.integers(1, 10**9)), max_size=4),
    scaled=st.integers(0, 10**15),
    units=st.integers(0, 6000),
    free=st.integers(0, 6000),
    waive=st.booleans(),
)
def test_lua_functions_equal_the_python_reference(
    probe: Any,
    quote: Quote,
    offsets: list[int],
    cuts: list[int],
    divs: list[tuple[int, int]],
    scaled: int,
    units: int,
    free: int,
    waive: bool,
) -> None:
    p = quote.pricing
    schedule: tuple[Segment, ...] = quote.schedule()
    ranges = [sorted(pair) for pair in itertools.pairwise(cuts)]
    argument = {
        "q": quote_arg(quote), "offsets": offsets, "ranges": ranges,
        "divs": [list(d) for d in divs], "scaled": scaled, "units": units, "free": free,
        "waive": waive,
    }  # fmt: skip
    lua = [int(v) for v in probe(keys=[], args=[pack(argument)])]
    want: list[int] = []
    for u in offsets:
        want += [rated_units(u, p.steps), floor_boundary(u, p.steps)]
    want += [range_cost(a, b, schedule) for a, b in ranges]
    want += [round_div(n, d, p.rounding) for n, d in divs]
    want += list(to_currency(scaled, p.scale, p.rounding_decimals, p.rounding, p.decimals))
    cost = expected(units, free, quote, waive)
    want += [cost.rated, cost.free, cost.scaled, cost.at_tariff, cost.minor, int(cost.capped)]
    assert lua[:-1] == want
    usage = lua[-1]  # the usage a disconnecting cap allows: the most whose cost fits
    assert rated_units(usage, p.steps) == cost.rated
    if usage < units:
        assert p.disconnect
        assert expected(usage + 1, free, quote, waive).capped
        assert not expected(usage, free, quote, waive).capped


@EXAMPLES
@given(
    quote=quotes(),
    units=st.integers(1, 6000),
    free=st.integers(0, 6000),
    waives=st.booleans(),
)
def test_an_event_costs_what_call_cost_says(
    scripts: Scripts, quote: Quote, units: int, free: int, waives: bool
) -> None:
    money = 10**15
    route = scripts.account(money, free, waives)
    cost = expected(units, free, quote, waives)
    answer = scripts.event(route, quote, units)
    cut_to_nothing = cost.capped and quote.pricing.disconnect and cost.rated == 0
    assert answer["r"] == (Result.CREDIT_LIMIT_REACHED if cut_to_nothing else Result.SUCCESS)
    assert (answer["c"], answer["ru"], answer["tc"]) == (cost.minor, cost.rated, cost.at_tariff)
    # keep_answer leaves out `rd` equal to `d` and empty `bs`: read as scripts.py reads them
    assert answer.get("rd", answer["d"]) == quote.pricing.rounding_decimals
    assert (answer["t"], answer["rt"], answer["x"]) == ("voice-x", quote.rate_id, "386")
    assert answer.get("bs", []) == list(bands_touched(quote, 0, cost.rated))
    if not cost.capped or not quote.pricing.disconnect:
        assert answer["g"] == units
    else:
        assert rated_units(answer["g"], quote.pricing.steps) == cost.rated
    if cut_to_nothing:
        assert answer["m"] == "max cost of the call reached"
        assert (scripts.amount(route, "min"), scripts.amount(route, "main")) == (free, money)
        return
    assert scripts.amount(route, "min") == free - cost.free
    assert scripts.amount(route, "main") == money - cost.minor


def bands_touched(quote: Quote, a: int, b: int) -> tuple[str, ...]:
    """The bands of the pieces offsets [a, b) touch (the piece at `a` when empty), once each."""
    seen: dict[str, None] = {}
    pieces = quote.pieces
    for k, piece in enumerate(pieces):
        stop = pieces[k + 1].start if k + 1 < len(pieces) else None
        if b > a:
            touched = piece.start < b and (stop is None or stop > a)
        else:
            touched = piece.start <= a and (stop is None or stop > a)
        if touched and piece.pricing.band is not None:
            seen.setdefault(piece.pricing.band)
    return tuple(seen)


def test_an_event_without_enough_money_moves_nothing(scripts: Scripts) -> None:
    quote = Quote((Piece(0, "39", pricing((Step(0, 60),), (UnitPrice(None, 2_000),))),))
    route = scripts.account(11, 30)  # 60 s cost 0.12; 30 free seconds are not a whole minute
    answer = scripts.event(route, quote, 45)
    assert (answer["r"], answer["g"], answer["c"]) == (Result.CREDIT_LIMIT_REACHED, 0, 12)
    assert (scripts.amount(route, "main"), scripts.amount(route, "min")) == (11, 30)


@EXAMPLES
@given(
    quote=quotes(),
    parts=st.lists(st.integers(0, 2500), min_size=1, max_size=5),
    asks=st.lists(st.integers(0, 3000), min_size=6, max_size=6),
    free=st.integers(0, 6000),
    waives=st.booleans(),
)
def test_a_session_split_in_reports_costs_what_the_whole_call_costs(
    scripts: Scripts,
    quote: Quote,
    parts: list[int],
    asks: list[int],
    free: int,
    waives: bool,
) -> None:
    # a cap that makes the rest free; a disconnecting one is kept by the grants (next test)
    quote = Quote((replace(quote.pieces[0], pricing=replace(quote.pricing, disconnect=False)),
                   *quote.pieces[1:]))  # fmt: skip
    money = 10**15
    route = scripts.account(money, free, waives)
    answers = [scripts.session(route, SessionOp.START, 0, quote=quote, requested=asks[0])]
    for n, used in enumerate(parts[:-1], start=1):
        answers.append(scripts.session(route, SessionOp.UPDATE, n, requested=asks[n], used=used))
    answers.append(scripts.session(route, SessionOp.END, len(parts), used=parts[-1]))
    cost = expected(sum(parts), free, quote, waives)
    assert [a["r"] for a in answers] == [Result.SUCCESS] * len(answers)
    assert sum(a["c"] for a in answers) == cost.minor
    assert answers[-1]["sc"] == cost.minor
    assert sum(a["ru"] for a in answers) == cost.rated
    assert sum(a["tc"] for a in answers) == cost.at_tariff
    assert scripts.amount(route, "min") == free - cost.free
    assert scripts.amount(route, "main") == money - cost.minor
    rated = 0
    for answer in answers:
        assert answer.get("bs", []) == list(bands_touched(quote, rated, rated + answer["ru"]))
        rated += answer["ru"]


def test_free_units_cover_a_session_from_its_start_only(scripts: Scripts) -> None:
    """50 free seconds do not reach the first whole minute: the call starts on money, and the
    free seconds do not come back when later increments are finer (whole call = its parts)."""
    steps = (Step(0, 60), Step(60, 1))  # the first minute whole, then per second
    quote = Quote((Piece(0, "", pricing(steps, (UnitPrice(None, 1_000),))),))  # 0.06 a minute
    route = scripts.account(1000, 50)
    scripts.session(route, SessionOp.START, 0, quote=quote, requested=120)
    first = scripts.session(route, SessionOp.UPDATE, 1, requested=60, used=30)
    end = scripts.session(route, SessionOp.END, 2, used=60)
    assert (first["c"], first["ru"], end["c"], end["ru"]) == (6, 60, 3, 30)
    assert end["sc"] == expected(90, 50, quote, False).minor == 9
    assert scripts.amount(route, "min") == 50


@EXAMPLES
@given(
    quote=quotes(),
    requested=st.integers(1, 6000),
    free=st.integers(0, 6000),
    waives=st.booleans(),
)
def test_a_disconnecting_cap_grants_the_most_usage_whose_cost_fits(
    scripts: Scripts, quote: Quote, requested: int, free: int, waives: bool
) -> None:
    cap = quote.pricing.max_cost
    assume(cap is not None)
    quote = Quote((replace(quote.pieces[0], pricing=replace(quote.pricing, disconnect=True)),
                   *quote.pieces[1:]))  # fmt: skip
    route = scripts.account(10**15, free, waives)
    start = scripts.session(route, SessionOp.START, 0, quote=quote, requested=requested)
    granted = start["g"]
    assert not expected(granted, free, quote, waives).capped
    if granted < requested:
        assert start["f"]
        assert expected(granted + 1, free, quote, waives).capped
    if granted == 0:
        assert start["r"] == Result.CREDIT_LIMIT_REACHED
        assert start["m"] == "max cost of the call reached"
        assert start["vt"] == 0  # no session was opened
        return
    end = scripts.session(route, SessionOp.END, 1, used=granted)
    assert end["sc"] == expected(granted, free, quote, waives).minor


def test_the_waiver_follows_the_first_free_balance_that_gives_units(scripts: Scripts) -> None:
    # 0.50 a minute, per minute, and a connect fee of 0.10
    base = pricing((Step(0, 60),), (UnitPrice(None, 500_000),), fee=100_000 * 60, scale=60)
    quote = Quote((Piece(0, "", base),))
    # the waiving bundle gives the first units: no fee, the minute is free
    assert scripts.event(scripts.account(1000, 600, waives=True), quote, 60)["c"] == 0
    # the same minute from a bundle that does not waive: the fee alone
    assert scripts.event(scripts.account(1000, 600), quote, 60)["c"] == 10
    # an empty waiving bundle gives nothing: the call starts on money and pays the fee
    assert scripts.event(scripts.account(1000, 0, waives=True), quote, 60)["c"] == 10 + 50
    # a bundle that does not waive comes first (priority -1): the fee is due
    first = {"b__first": "voice_seconds|0|0|-1|0", "a__first": 600}
    assert scripts.event(scripts.account(1000, 600, waives=True, **first), quote, 60)["c"] == 10
    # a session: decided by its first rated unit, and it stays
    route = scripts.account(1000, 60, waives=True)
    scripts.session(route, SessionOp.START, 0, quote=quote, requested=60)
    scripts.session(route, SessionOp.UPDATE, 1, requested=60, used=60)  # on the bundle
    end = scripts.session(route, SessionOp.END, 2, used=60)  # on money, still no fee
    assert (end["c"], end["sc"]) == (50, 50)
    route = scripts.account(1000, 600)  # the same from a bundle that does not waive
    scripts.session(route, SessionOp.START, 0, quote=quote, requested=60)
    assert scripts.session(route, SessionOp.END, 1, used=60)["sc"] == 10


def test_an_event_too_large_to_price_exactly_is_refused_before_lua() -> None:
    steps, price = (Step(0, 1),), 10**6  # 1.00 a unit, scale 1
    quote = Quote((Piece(0, "", pricing(steps, (UnitPrice(None, price),), fee=5)),))
    fits = (EXACT_LIMIT - 1 - 5) // price
    assert priced_exactly(quote, fits)
    assert not priced_exactly(quote, fits + 1)
    # every piece counts, at its highest price
    pricier = replace(quote.pricing, prices=(UnitPrice(10, 0), UnitPrice(None, 4 * price)))
    two = Quote((quote.pieces[0], Piece(100, "", pricier)))
    assert not priced_exactly(two, fits // 2)
    assert priced_exactly(two, fits // 4 - 1)


def test_a_session_is_never_granted_beyond_exact_arithmetic(scripts: Scripts) -> None:
    steps, price = (Step(0, 1),), 10**6
    quote = Quote((Piece(0, "", pricing(steps, (UnitPrice(None, price),), fee=5)),))
    route = scripts.account(10**14)  # cents: far more than 2**53 micro-units
    start = scripts.session(route, SessionOp.START, 0, quote=quote, requested=2**50)
    fits = (EXACT_LIMIT - 1 - 5) // price
    assert (start["r"], start["g"], start["f"]) == (Result.SUCCESS, fits, True)
    end = scripts.session(route, SessionOp.END, 1, used=fits)
    _, minor = to_currency(5 + fits * price, 1, 2, Rounding.UP, 2)
    assert end["sc"] == minor
    # once there, nothing more is granted, and the client is told why
    route = scripts.account(10**14)
    scripts.session(route, SessionOp.START, 0, quote=quote, requested=fits)
    more = scripts.session(route, SessionOp.UPDATE, 1, requested=10, used=fits)
    assert (more["r"], more["g"]) == (Result.CREDIT_LIMIT_REACHED, 0)
    assert more["m"] == "usage too large to price exactly"


def test_a_session_opened_before_the_upgrade_goes_on_at_its_terms(scripts: Scripts) -> None:
    """A session stored in the old form (its rate as `p`, money units `mu`) is converted."""
    route = scripts.account(1000)
    old_rate = {
        "t": "voice-std", "r": "voice-std:39", "svc": "voice", "mr": "EUR", "cur": "EUR",
        "d": 2, "mo": "earliest_expiry", "fr": [["voice_seconds", "earliest_expiry"]], "cf": 0,
        "i1": 60, "i2": 60, "tiers": [[-1, 120_000, 60]],
    }  # fmt: skip
    session = {
        "n": 1, "sub": route.account, "p": old_rate, "attrs": "{}", "t0": NOW_MS, "cy": "202611",
        "u": 60, "ru": 60, "fu": 0, "mu": 60, "cm": 12, "unc": 0, "rv": {}, "pu": {},
        "e": NOW_MS + 10**9,
    }  # fmt: skip
    scripts.client.hset(keys.account(PARTITION, route.account), "x:s1", pack(session))
    update = scripts.session(route, SessionOp.UPDATE, 2, requested=60, used=30)
    assert (update["r"], update["c"], update["sc"], update["rt"]) == (1, 12, 24, "voice-std:39")
    assert update["x"] == "39"
    end = scripts.session(route, SessionOp.END, 3, used=30)
    assert (end["c"], end["sc"]) == (0, 24)
