"""The Lua scripts' unit and price arithmetic equals the Python reference, over random inputs.

Lua numbers are doubles: exact while every intermediate stays below 2**53, which the strategies
respect (a single event or session costs less than 2**53 micro-units, about 9e9 currency units).
"""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from tarif_catalog import Tier, cost_minor, rated_units, tier_cost_micros

PROBE = """
local units, first, nxt, cf, decimals = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5])
local tiers = {}
for i = 6, #ARGV, 3 do
  tiers[#tiers + 1] = { tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]) }
end
local rated = rated_units(units, first, nxt)
local p = { tiers = tiers, cf = cf, d = decimals }
return { fmt(rated), fmt(tier_cost(rated, tiers)), fmt(cost_minor(rated, rated, p)) }
"""


class Priced:
    def __init__(self, tiers: tuple[Tier, ...], connect_fee: int, decimals: int) -> None:
        self.tiers = tiers
        self.connect_fee_micros = connect_fee
        self.decimals = decimals


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(1, 10**9), max_size=3)))
    prices = st.integers(0, 10**6)
    pers = st.integers(1, 2**20)
    tiers = [Tier(b, draw(prices), draw(pers)) for b in bounds]
    tiers.append(Tier(None, draw(prices), draw(pers)))
    return tuple(tiers)


@pytest.fixture(scope="module")
def probe(redis_url: str) -> object:
    client = Redis.from_url(redis_url)
    lib = (resources.files("tarif_balances") / "lua" / "lib.lua").read_text()
    script = client.register_script(lib + PROBE)
    yield script
    client.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    units=st.integers(0, 10**10),
    first=st.integers(1, 3600),
    nxt=st.integers(1, 3600),
    connect_fee=st.integers(0, 10**6),
    decimals=st.integers(0, 6),
    tiers=tier_lists(),
)
def test_lua_matches_python(
    probe: object,
    units: int,
    first: int,
    nxt: int,
    connect_fee: int,
    decimals: int,
    tiers: tuple[Tier, ...],
) -> None:
    rated = rated_units(units, first, nxt)
    micros = tier_cost_micros(rated, tiers)
    if micros + connect_fee >= 2**53:
        return
    args = [units, first, nxt, connect_fee, decimals]
    for tier in tiers:
        args += [-1 if tier.up_to is None else tier.up_to, tier.price_micros, tier.per_units]
    lua = [int(x) for x in probe(keys=[], args=args)]  # type: ignore[operator]
    expected = [rated, micros, cost_minor(rated, rated, Priced(tiers, connect_fee, decimals))]
    assert lua == expected
