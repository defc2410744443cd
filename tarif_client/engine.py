"""The back office's way into the engine: the public gRPC API, so re-rated usage takes the same
idempotent path as live traffic. Each call passes the current request id on (`x-request-id`
metadata), so an admin request and the charge it makes share one id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import grpc

from tarif.charging.v1 import charging_pb2 as pb
from tarif.charging.v1 import charging_pb2_grpc
from tarif_common import request_ids
from tarif_common.errors import InvalidRequest, StoreUnavailable


@dataclass(frozen=True, slots=True)
class Charged:
    result: str  # the engine's ResultCode name (SUCCESS, CREDIT_LIMIT_REACHED, ...)
    message: str
    cost: Decimal | None
    currency: str


@dataclass(frozen=True, slots=True)
class LiveBalance:
    id: str
    resource: str
    unit: str
    amount: int  # the resource's smallest unit
    reserved: int
    available: int
    valid_from: datetime | None
    valid_to: datetime | None
    priority: int


class Engine(Protocol):
    async def balances(self, subscriber: str) -> list[LiveBalance]: ...

    async def refund(
        self,
        *,
        subscriber: str,
        refund_id: str,
        original_event_id: str,
        amount: Decimal,
        currency: str,
        decimals: int,
    ) -> Charged: ...

    async def charge_event(
        self,
        *,
        event_id: str,
        subscriber: str,
        service: str,
        event_time: datetime | None,
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

    async def _call(self, method: Any, request: Any, what: str) -> Any:
        """One RPC; the engine's refusal of the input is InvalidRequest, anything else means
        the engine cannot be reached (StoreUnavailable: retry later)."""
        try:
            return await method(request, timeout=self._timeout, metadata=request_ids.outgoing())
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidRequest(what, exc.details() or "rejected by the engine") from exc
            raise StoreUnavailable(f"engine: {exc.code().name}: {exc.details()}") from exc

    async def refund(
        self,
        *,
        subscriber: str,
        refund_id: str,
        original_event_id: str,
        amount: Decimal,
        currency: str,
        decimals: int,
    ) -> Charged:
        """Give back `amount` of a charged event, once per `refund_id`."""
        request = pb.RefundRequest(
            subscriber=subscriber,
            refund_id=refund_id,
            original_event_id=original_event_id,
            amount=pb.Money(
                currency=currency, minor_units=int(amount.scaleb(decimals)), decimals=decimals
            ),
        )
        request.event_time.GetCurrentTime()
        answer = await self._call(self._stub.Refund, request, "refund")
        refunded = None
        if answer.HasField("refunded"):
            refunded = Decimal(answer.refunded.minor_units).scaleb(-answer.refunded.decimals)
        return Charged(
            pb.ResultCode.Name(answer.result), answer.message, refunded, answer.refunded.currency
        )

    async def balances(self, subscriber: str) -> list[LiveBalance]:
        """What the engine holds now (amounts move with every charge)."""
        try:
            report = await self._stub.GetBalances(
                pb.BalanceQuery(subscriber=subscriber),
                timeout=self._timeout,
                metadata=request_ids.outgoing(),
            )
        except grpc.aio.AioRpcError as exc:
            raise StoreUnavailable(f"engine: {exc.code().name}: {exc.details()}") from exc
        if report.result != pb.SUCCESS:
            return []
        return [
            LiveBalance(
                b.id,
                b.resource,
                b.unit,
                b.amount,
                b.reserved,
                b.available,
                b.valid_from.ToDatetime(UTC) if b.HasField("valid_from") else None,
                b.valid_to.ToDatetime(UTC) if b.HasField("valid_to") else None,
                b.priority,
            )
            for b in report.balances
        ]

    async def charge_event(
        self,
        *,
        event_id: str,
        subscriber: str,
        service: str,
        event_time: datetime | None,
        units: int,
        attributes: dict[str, str],
    ) -> Charged:
        """Charge one event, once per `event_id`. `event_time` None: the engine's now, left out
        of the comparison that tells a retry from another request under the same id (a
        reused id with another body is IDEMPOTENCY_CONFLICT)."""
        request = pb.EventRequest(
            subscriber=subscriber,
            service=service,
            event_id=event_id,
            units=units,
            attributes=attributes,
        )
        if event_time is not None:
            request.event_time.FromDatetime(event_time)
        answer = await self._call(self._stub.ChargeEvent, request, "event")
        cost = None
        if answer.HasField("cost"):
            cost = Decimal(answer.cost.minor_units).scaleb(-answer.cost.decimals)
        return Charged(
            pb.ResultCode.Name(answer.result),
            answer.message,
            cost,
            answer.cost.currency,
        )
