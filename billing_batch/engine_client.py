"""The back office's way into the engine: the public gRPC API, so re-rated usage takes the same
idempotent path as live traffic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import grpc

from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc
from tarif_common.errors import InvalidRequest, StoreUnavailable


@dataclass(frozen=True, slots=True)
class Charged:
    result: str  # the engine's ResultCode name (SUCCESS, CREDIT_LIMIT_REACHED, ...)
    message: str
    cost: Decimal | None
    currency: str


class Engine(Protocol):
    async def charge_event(
        self,
        *,
        event_id: str,
        subscriber: str,
        service: str,
        event_time: datetime,
        units: int,
        attributes: dict[str, str],
    ) -> Charged: ...


class GrpcEngine:
    def __init__(self, target: str, timeout: float = 10.0) -> None:
        self._channel = grpc.aio.insecure_channel(target)
        self._stub = charging_pb2_grpc.ChargingServiceStub(self._channel)
        self._timeout = timeout

    async def close(self) -> None:
        await self._channel.close()

    async def charge_event(
        self,
        *,
        event_id: str,
        subscriber: str,
        service: str,
        event_time: datetime,
        units: int,
        attributes: dict[str, str],
    ) -> Charged:
        request = pb.EventRequest(
            subscriber=subscriber,
            service=service,
            event_id=event_id,
            units=units,
            attributes=attributes,
        )
        request.event_time.FromDatetime(event_time)
        try:
            answer = await self._stub.ChargeEvent(request, timeout=self._timeout)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidRequest("event", exc.details() or "rejected by the engine") from exc
            raise StoreUnavailable(f"engine: {exc.code().name}: {exc.details()}") from exc
        cost = None
        if answer.HasField("cost"):
            cost = Decimal(answer.cost.minor_units).scaleb(-answer.cost.decimals)
        return Charged(
            pb.ResultCode.Name(answer.result),
            answer.message,
            cost,
            answer.cost.currency,
        )
