"""gRPC server interceptor: request ids, metrics, undecodable requests and error mapping, for
every method.

Handlers only convert and delegate. Each call gets its request id (the caller's `x-request-id`
metadata, or a new one): held in `tarif_common.request_ids` while the call runs, so log lines and
the rated records it writes carry it, and sent back as trailing metadata `x-request-id`. Here a
request whose bytes do not decode, or a `TarifError` raised anywhere below, becomes a typed gRPC
status (INVALID_ARGUMENT with the field, UNAVAILABLE when Redis is down); an unexpected exception
is logged with its stack and becomes INTERNAL, and the server keeps serving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from engine.metrics import EngineMetrics
from tarif_common import request_ids
from tarif_common.errors import InvalidRequest, TarifError
from tarif_common.results import RESULTS, Result

log = logging.getLogger(__name__)

_RESULT_NAMES = {int(r): r.name for r in Result}


class Undecodable:
    """Stands in for a request whose bytes are not a valid message."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


def _safe(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def decode(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, ValueError, RuntimeError) as exc:
            return Undecodable(str(exc) or "cannot decode the request")

    return decode


def _status(error: TarifError) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, RESULTS[error.result].grpc_status, grpc.StatusCode.INTERNAL)


async def _abort(context: grpc.aio.ServicerContext, error: Exception) -> None:
    if isinstance(error, TarifError):
        await context.abort(_status(error), error.message)
    log.exception("rpc.failed")
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _request_id(context: grpc.aio.ServicerContext) -> str:
    """The call's request id: the caller's, if acceptable, else a new one; answered back."""
    given = None
    for key, value in context.invocation_metadata() or ():
        if key == request_ids.METADATA:
            given = value
            break
    request_id = request_ids.accepted(given)
    context.set_trailing_metadata(((request_ids.METADATA, request_id),))
    return request_id


class EdgeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, metrics: EngineMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        rpc = details.method.rsplit("/", 1)[-1]
        if handler.unary_unary is not None:
            return handler._replace(
                unary_unary=self._unary(rpc, handler.unary_unary),
                request_deserializer=_safe(handler.request_deserializer),
            )
        if handler.stream_stream is not None:
            return handler._replace(
                stream_stream=self._stream(rpc, handler.stream_stream),
                request_deserializer=_safe(handler.request_deserializer),
            )
        return handler

    def _unary(
        self, rpc: str, behavior: Callable[..., Awaitable[Any]]
    ) -> Callable[..., Awaitable[Any]]:
        metrics = self._metrics

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            label = "INTERNAL"
            token = request_ids.set_current(_request_id(context))
            try:
                if isinstance(request, Undecodable):
                    raise InvalidRequest("request", request.error)
                response = await behavior(request, context)
                label = _RESULT_NAMES.get(getattr(response, "result", 1), "OK")
                return response
            except TarifError as exc:
                label = _status(exc).name
                await _abort(context, exc)
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                await _abort(context, exc)
            finally:
                elapsed = time.perf_counter() - started
                metrics.requests.labels(rpc, label).inc()
                metrics.latency.labels(rpc).observe(elapsed)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("rpc.done", extra={"rpc": rpc, "result": label, "seconds": elapsed})
                request_ids.reset(token)

        return wrapper

    def _stream(
        self, rpc: str, behavior: Callable[..., AsyncIterator[Any]]
    ) -> Callable[..., AsyncIterator[Any]]:
        metrics = self._metrics

        async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
            async for request in requests:
                if isinstance(request, Undecodable):
                    raise InvalidRequest("request", request.error)
                yield request

        async def wrapper(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            # one id for the whole stream; the call's own task ends with it, so no reset
            request_ids.set_current(_request_id(context))
            try:
                async for response in behavior(checked(requests), context):
                    started = time.perf_counter()
                    for answer in getattr(response, "answers", ()):
                        metrics.events.labels(_RESULT_NAMES.get(answer.result, "UNKNOWN")).inc()
                    metrics.requests.labels(rpc, "OK").inc()
                    yield response
                    metrics.latency.labels(rpc).observe(time.perf_counter() - started)
            except TarifError as exc:
                metrics.requests.labels(rpc, _status(exc).name).inc()
                await _abort(context, exc)
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                metrics.requests.labels(rpc, "INTERNAL").inc()
                await _abort(context, exc)

        return wrapper
