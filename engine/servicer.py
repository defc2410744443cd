"""The gRPC edge of the charging service: convert, delegate to the charger, convert back.

Errors and metrics are handled once, in `engine.edge` (each handler wrapped at start-up).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc

from engine import convert
from engine.charger import Charger
from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc as pb_grpc
from tarif_balances.model import SessionOp


class ChargingServicer(pb_grpc.ChargingServiceServicer):
    def __init__(self, charger: Charger, clock: Callable[[], float]) -> None:
        self._charger = charger
        self._clock = clock

    async def _session(self, op: SessionOp, request: pb.SessionRequest) -> pb.SessionAnswer:
        outcome = await self._charger.session(convert.session_step(op, request, self._clock))
        return convert.session_answer(request, outcome)

    async def StartSession(
        self, request: pb.SessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SessionAnswer:
        return await self._session(SessionOp.START, request)

    async def UpdateSession(
        self, request: pb.SessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SessionAnswer:
        return await self._session(SessionOp.UPDATE, request)

    async def EndSession(
        self, request: pb.SessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.SessionAnswer:
        return await self._session(SessionOp.END, request)

    async def ChargeEvent(
        self, request: pb.EventRequest, context: grpc.aio.ServicerContext
    ) -> pb.EventAnswer:
        outcome = await self._charger.event(convert.event_step(request, self._clock))
        return convert.event_answer(outcome)

    async def Refund(
        self, request: pb.RefundRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefundAnswer:
        outcome = await self._charger.refund(convert.refund_step(request, self._clock))
        return convert.refund_answer(request, outcome)

    async def GetBalances(
        self, request: pb.BalanceQuery, context: grpc.aio.ServicerContext
    ) -> pb.BalanceReport:
        return convert.balance_report(await self._charger.balances(request.subscriber))

    async def ChargeEvents(
        self, request_iterator: AsyncIterator[pb.EventBatch], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.EventBatchAnswer]:
        async for batch in request_iterator:
            steps = [convert.batch_event(e, i, self._clock) for i, e in enumerate(batch.events)]
            outcomes = await self._charger.events(steps) if steps else []
            yield convert.batch_answer(outcomes)
