"""The load behind the dashboard pictures: short, mixed, so every panel has something to show.

Over gRPC: unary events at a rate that changes by thirds (with unknown subscribers, invalid
events, replays, idempotency conflicts, balance checks and price enquiries among them), a
ChargeEvents stream with invalid events in its batches, sessions that reserve units (a few left
for the sweeper), balance queries, and prepaid customers on small balances who cross their
credit profile's thresholds (e-mail, SMS, webhook notifications), get refused, and get refunds.
The admin API's side (jobs, taxes, alerts) is `loadtest.dashboard_operator`.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import grpc

from loadtest.setup import demo_catalog
from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc

RESULT = {v.number: v.name for v in pb.ResultCode.DESCRIPTOR.values}
CALL_TIMEOUT = 10.0
# the rich customers alternate between the two, the small ones are residential
CUSTOMER_TYPES = ("business", "residential")


@dataclass(frozen=True)
class Plan:
    """Sizes of the run; the defaults take ~90 s and a fraction of one core."""

    duration: float = 90.0
    rich: int = 200  # postpaid customers with a high limit: the bulk of the traffic
    small: int = 40  # prepaid on 6.00 EUR with the `standard` credit profile
    rates: tuple[float, ...] = (60.0, 160.0, 100.0)  # unary events/s, one rate per part
    batch: int = 50  # events per ChargeEvents batch, two batches a second
    sessions: int = 12  # sessions going on at once
    seed: int = 15


def rich_service(i: int) -> str:
    return f"38651{i:06d}"


def small_service(i: int) -> str:
    return f"38652{i:06d}"


def customers_document(plan: Plan) -> dict[str, Any]:
    """A provisioning document (`tarif up --demo`): the demo catalog and the run's customers."""

    def customer(
        account: str, kind: str, service: str, phone: str, subscription: dict[str, Any]
    ) -> Any:
        email = f"{account.lower()}@example.com"
        return {
            "account_id": account,
            "account": {
                "first_name": "Load",
                "last_name": account,
                "email": email,
                "phone": phone,
                "customer_type": kind,
                "address": "Slovenska cesta 1",
                "city": "Ljubljana",
                "state": "Osrednjeslovenska",
                "country": "SI",
            },
            "payment": {"method": "invoice"},
            "contacts": [{"tag": "billing", "email": email, "phone": phone}],
            "subscription": {"plan": "basic", "currency": "EUR", "services": [service]}
            | subscription,
        }

    postpaid = {
        "payment_type": "postpaid",
        "credit_profile": "postpaid",
        "credit_limit": "100000.00",
        "balances": [{"id": "main", "resource": "EUR", "amount": "0"}],
    }
    prepaid = {
        "credit_profile": "standard",
        "balances": [{"id": "main", "resource": "EUR", "amount": "6.00"}],
    }
    rich = [
        customer(f"R{i:04d}", CUSTOMER_TYPES[i % 2], rich_service(i), f"+386410{i:05d}", postpaid)
        for i in range(plan.rich)
    ]
    # numbers ending in 7 are the ones the SMS gateway refuses (loadtest.notify_sink)
    small = [
        customer(f"S{i:04d}", "residential", small_service(i), f"+386420{i:05d}", prepaid)
        for i in range(plan.small)
    ]
    return {"catalog": demo_catalog(), "customers": rich + small}


class Traffic:
    """One load run against a running Tarif; `run()` returns what was answered, by call."""

    def __init__(self, target: str, plan: Plan) -> None:
        self.target, self.plan = target, plan
        self.answers: Counter[str] = Counter()
        self._rng = random.Random(plan.seed)
        self._ids = itertools.count()
        self._tag = uuid.uuid4().hex[:8]
        self._charged: list[pb.EventRequest] = []  # some charged events, to send again
        self.stub: Any = None
        self._start = self._end = 0.0

    async def first_usage(self) -> None:
        """An SMS for each business customer: usage on their next invoice (which needs a tax)."""
        async with grpc.aio.insecure_channel(self.target) as channel:
            self.stub = charging_pb2_grpc.ChargingServiceStub(channel)
            for i in range(0, self.plan.rich, len(CUSTOMER_TYPES)):  # the business ones
                event = pb.EventRequest(
                    subscriber=rich_service(i), service="sms", event_id=self._id("w"), units=1
                )
                event.attributes["destination"] = "38640111222"
                await self._call("ChargeEvent", event)

    async def run(self) -> Counter[str]:
        async with grpc.aio.insecure_channel(self.target) as channel:
            self.stub = charging_pb2_grpc.ChargingServiceStub(channel)
            self._start = time.monotonic()
            self._end = self._start + self.plan.duration
            await asyncio.gather(
                *(self._unary(worker, 16) for worker in range(16)),
                self._batches(),
                *(self._sessions(i) for i in range(self.plan.sessions)),
                self._small_spenders(),
                self._balance_queries(),
            )
        return self.answers

    # -- helpers ---------------------------------------------------------------------------

    def _id(self, kind: str) -> str:
        return f"{self._tag}-{kind}-{next(self._ids)}"

    def _left(self) -> float:
        return self._end - time.monotonic()

    def _rate(self) -> float:
        part = (time.monotonic() - self._start) / self.plan.duration * len(self.plan.rates)
        return self.plan.rates[min(int(part), len(self.plan.rates) - 1)]

    async def _call(self, rpc: str, request: Any) -> Any:
        """One unary call, its answer counted; a refused call (gRPC status) counted too."""
        try:
            answer = await getattr(self.stub, rpc)(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            self.answers[f"{rpc} {exc.code().name}"] += 1
            return None
        self.answers[f"{rpc} {RESULT.get(answer.result, answer.result)}"] += 1
        return answer

    def _event(self) -> pb.EventRequest:
        """A usage event of a rich customer, sometimes one the engine refuses."""
        rng = self._rng
        subscriber = rich_service(rng.randrange(self.plan.rich))
        roll = rng.random()
        if roll < 0.02:
            subscriber = f"38659{rng.randrange(10**6):06d}"  # nobody's: USER_UNKNOWN, unratable
        if rng.random() < 0.6:
            request = pb.EventRequest(
                subscriber=subscriber,
                service="sms",
                event_id=self._id("e"),
                units=1,
                attributes={"destination": f"3864{rng.randrange(10**7):07d}"},
            )
        else:
            request = pb.EventRequest(
                subscriber=subscriber,
                service="voice",
                event_id=self._id("e"),
                units=rng.randrange(10, 600),
                attributes={"destination": rng.choice(["38640", "39333", "44207"]) + "1234567"},
            )
        if 0.02 <= roll < 0.03:
            request.units = 0  # invalid: INVALID_ARGUMENT (unary) or INVALID_REQUEST (batch)
        elif 0.03 <= roll < 0.04:
            del request.attributes["destination"]  # a mandatory rating field missing
        elif 0.04 <= roll < 0.07:
            request.action = pb.CHECK_BALANCE
        elif 0.07 <= roll < 0.09:
            request.action = pb.PRICE_ENQUIRY
        return request

    # -- the traffic -----------------------------------------------------------------------

    async def _unary(self, worker: int, workers: int) -> None:
        """ChargeEvent at the part's rate (this worker's share), with replays and conflicts."""
        due = time.monotonic() + worker / self._rate()
        while self._left() > 0:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += workers / self._rate()
            roll = self._rng.random()
            if roll < 0.01 and self._charged:
                request = pb.EventRequest()
                request.CopyFrom(self._rng.choice(self._charged))  # a retry: the stored answer
                if roll < 0.005:
                    request.units += 1  # another request under a used id: IDEMPOTENCY_CONFLICT
                await self._call("ChargeEvent", request)
                continue
            request = self._event()
            answer = await self._call("ChargeEvent", request)
            charged = answer is not None and answer.result == pb.SUCCESS
            if charged and request.action == pb.DIRECT_DEBITING and len(self._charged) < 1000:
                self._charged.append(request)

    async def _batches(self) -> None:
        """One ChargeEvents stream, two batches a second, invalid events answered in place."""

        async def batches() -> Any:
            while self._left() > 0:
                yield pb.EventBatch(events=[self._event() for _ in range(self.plan.batch)])
                await asyncio.sleep(0.5)

        call = self.stub.ChargeEvents(batches(), timeout=self.plan.duration + CALL_TIMEOUT)
        async for answer in call:
            for event in answer.answers:
                self.answers[f"ChargeEvents/event {RESULT.get(event.result)}"] += 1

    async def _sessions(self, who: int) -> None:
        """Sessions one after the other: start, a few updates, end; one in 12 is abandoned
        (the sweeper releases it after its validity time)."""
        rng = random.Random(self.plan.seed * 1000 + who)
        await asyncio.sleep(who * 0.4)
        while self._left() > 3:
            subscriber = rich_service(rng.randrange(self.plan.rich))
            data = rng.random() < 0.4
            service, ask = ("data", 5 * 2**20) if data else ("voice", 120)
            attributes = {} if data else {"destination": "386401234567"}
            first = pb.SessionRequest(
                subscriber=subscriber,
                service=service,
                session_id=self._id("s"),
                attributes=attributes,
                requested_units=ask,
            )

            def step(number: int, used: int, wanted: int, first: Any = first) -> Any:
                request = pb.SessionRequest()
                request.CopyFrom(first)
                request.request_number, request.used_units = number, used
                request.requested_units = wanted
                return request

            answer = await self._call("StartSession", first)
            if answer is None or answer.result != pb.SUCCESS:
                await asyncio.sleep(1.0)
                continue
            updates = rng.randrange(1, 5)
            for number in range(1, updates + 1):
                await asyncio.sleep(rng.uniform(1.0, 2.5))
                await self._call("UpdateSession", step(number, ask // 2, ask))
            if rng.random() < 1 / 12:
                continue  # abandoned: its reservation waits for the sweeper
            await asyncio.sleep(rng.uniform(0.5, 2.0))
            await self._call("EndSession", step(updates + 1, ask // 3, 0))

    async def _small_spenders(self) -> None:
        """Each prepaid customer in turn (spread over the run): two calls, a refund that brings
        the balance back above 5.00 (webhook), calls until the credit runs out (80 % used:
        e-mail and SMS), a refused one."""
        spacing = self.plan.duration * 0.8 / max(1, self.plan.small)
        await asyncio.gather(
            *(self._spend(i, i * spacing) for i in range(self.plan.small)),
        )

    async def _spend(self, i: int, delay: float) -> None:
        await asyncio.sleep(delay)
        subscriber = small_service(i)

        def call() -> pb.EventRequest:
            return pb.EventRequest(
                subscriber=subscriber,
                service="voice",
                event_id=self._id("p"),
                units=300,  # 5 minutes to Italy: 0.60 EUR
                attributes={"destination": "393331234567"},
            )

        await self._call("ChargeEvent", call())
        second = call()
        await self._call("ChargeEvent", second)
        await asyncio.sleep(1.0)
        refund = pb.RefundRequest(
            subscriber=subscriber, refund_id=self._id("r"), original_event_id=second.event_id
        )
        await self._call("Refund", refund)
        for _ in range(12):
            if self._left() <= 0:
                return
            await asyncio.sleep(0.5)
            answer = await self._call("ChargeEvent", call())
            if answer is None or answer.result != pb.SUCCESS:
                break
        await self._call("GetBalances", pb.BalanceQuery(subscriber=subscriber))

    async def _balance_queries(self) -> None:
        while self._left() > 0:
            subscriber = rich_service(self._rng.randrange(self.plan.rich))
            await self._call("GetBalances", pb.BalanceQuery(subscriber=subscriber))
            await asyncio.sleep(0.2)
