"""A call that starts on free units of a balance that waives the connect fee pays none: balances
provisioned with `waives_connect_fee`, and balances granted by a purchase of an offer with
`waive_connect_fee` (bought, renewed), reach the engine with the flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from admin_api import catalog as catalogs
from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.scripts import route_of
from tarif_billing.cycles import CycleRule, cycle_at, next_cycle
from tarif_common import keys
from tests.integration.admin_harness import Admin, onboarding
from tests.integration.harness import Engine, account, catalog, eur
from tests.integration.job_run_harness import run_job
from tests.integration.requests import session, voice_call

MSISDN = "38640000091"
US = {"destination": "15551234"}  # the catch-all rate: 0.50 a minute, 60/60, connect fee 0.10


def call(msisdn: str, event_id: str, at: float, seconds: int) -> pb.EventRequest:
    request = voice_call(msisdn, event_id, at, seconds)
    request.attributes["destination"] = US["destination"]
    return request


def us_session(msisdn: str, sid: str, n: int, at: float, **units: int) -> pb.SessionRequest:
    return session(msisdn, sid, n, at, service="voice", attributes=US, **units)


async def descriptors(engine: Engine, msisdn: str) -> dict[str, str]:
    """The account's balance descriptors (`b:<id>` -> `res|from|to|prio|floor[|1]`)."""
    route = route_of(await engine.redis.get(keys.route(msisdn)))
    held = await engine.redis.hgetall(keys.account(route.partition, route.account))
    return {k.decode()[2:]: v.decode() for k, v in held.items() if k.startswith(b"b:")}


def minutes(amount: int, **flag: Any) -> dict[str, Any]:
    return {"id": "bundle", "resource": "voice_seconds", "amount": amount, **flag}


async def test_a_provisioned_bundle_that_waives_the_fee(engine: Engine) -> None:
    other = "38640000092"
    await engine.provision(
        account("w1", MSISDN, eur("10.00", waives_connect_fee=True),
                minutes(60, waives_connect_fee=True)),
        account("w2", other, eur("10.00"), minutes(60)),
    )  # fmt: skip
    held = await descriptors(engine, MSISDN)
    assert held == {"main": "EUR|0|0|0|0", "bundle": "voice_seconds|0|0|0|0|1"}  # units only
    assert (await descriptors(engine, other))["bundle"] == "voice_seconds|0|0|0|0"
    now = engine.clock.now
    waived = await engine.stub.ChargeEvent(call(MSISDN, "e1", now, 60))
    charged = await engine.stub.ChargeEvent(call(other, "e1", now, 60))
    assert (waived.cost.minor_units, charged.cost.minor_units) == (0, 10)  # the fee alone
    assert [(i.balance_id, i.amount) for i in waived.impacts] == [("bundle", -60)]
    # the bundle is spent: a call that starts on money pays the fee again
    assert (await engine.stub.ChargeEvent(call(MSISDN, "e2", now, 60))).cost.minor_units == 60


async def test_a_session_that_starts_on_the_bundle_pays_no_fee(engine: Engine) -> None:
    other = "38640000092"
    await engine.provision(
        account("w3", MSISDN, eur("10.00"), minutes(60, waives_connect_fee=True)),
        account("w4", other, eur("10.00"), minutes(60)),
    )
    t = engine.clock.now
    costs = []
    for msisdn in (MSISDN, other):
        await engine.stub.StartSession(us_session(msisdn, "s", 0, t, requested=60))
        await engine.stub.UpdateSession(us_session(msisdn, "s", 1, t, requested=60, used=60))
        end = await engine.stub.EndSession(us_session(msisdn, "s", 2, t, used=60))
        costs.append(end.session_cost.minor_units)
    assert costs == [50, 60]  # the second minute on money; the fee only without the waiver


async def publish(admin: Admin, document: dict[str, Any]) -> None:
    async with admin.pool.acquire() as conn, conn.transaction():
        await catalogs.publish(conn, None, document, actor="test")
    await admin.relay.drain()
    await admin.engine.app.catalog.refresh()


async def test_a_bundle_that_waives_grants_balances_that_waive(admin: Admin) -> None:
    msisdn = "38640555091"
    document = catalog()
    document["bundles"]["smart-bundle"]["waive_connect_fee"] = True
    document["packs"]["data-boost"]["waive_connect_fee"] = True
    await publish(admin, document)
    body = onboarding(
        msisdn,
        subscription__plan="smart",
        subscription__balances=[{"id": "main", "resource": "EUR", "amount": "60.00"}],
    )
    created = await admin.call("POST", "/v1/customers", json=body)
    assert created.status_code == 201, created.text
    customer = created.json()
    path = f"/v1/customers/{customer['id']}/subscriptions/{customer['subscriptions'][0]['id']}"
    listed = (await admin.call("GET", f"{path}/products")).json()["items"]
    bought = {p["product"]: p for p in listed}
    minutes_id = bought["voice-100min"]["balance_id"]
    held = await descriptors(admin.engine, msisdn)
    assert held[minutes_id].endswith("|1")
    assert not held[bought["welcome-credit"]["balance_id"]].endswith("|1")  # money: no flag
    assert not held["main"].endswith("|1")  # provisioned, not bought
    engine = admin.engine
    engine.clock.now = datetime.now(UTC).timestamp()  # the purchase is live from now on
    answer = await engine.stub.ChargeEvent(call(msisdn, "e1", engine.clock.now, 90))
    assert (answer.result, answer.cost.minor_units) == (pb.SUCCESS, 0)
    assert [(i.balance_id, i.amount) for i in answer.impacts] == [(minutes_id, -120)]

    pack = await admin.call("POST", f"{path}/packs", json={"pack": "data-boost", "request_id": "p"})
    assert pack.status_code == 201, pack.text
    (data,) = pack.json()["items"]
    assert (await descriptors(engine, msisdn))[data["balance_id"]].endswith("|1")

    # the next cycle's minutes are a new balance of the same purchase: they waive too
    rule = CycleRule("monthly", 1, "Europe/Ljubljana")
    following = next_cycle(rule, cycle_at(rule, datetime.now(UTC)))
    ran = await run_job(
        admin.pool, engine.redis, "purchase_check", following.start + timedelta(hours=1)
    )
    assert ran.failed == 0
    listed = (await admin.call("GET", f"{path}/products")).json()["items"]
    renewed = {p["product"]: p for p in listed}["voice-100min"]["balance_id"]
    assert renewed != minutes_id
    assert (await descriptors(engine, msisdn))[renewed].endswith("|1")
