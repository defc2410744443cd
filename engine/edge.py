"""The gRPC edge: request ids, metrics, undecodable requests and error mapping, for every method.

Handlers only convert and delegate. Each call gets its request id (the caller's `x-request-id`
metadata, or a new one): held in `tarif_common.request_ids` while the call runs, so log lines and
the rated records it writes carry it, and sent back as trailing metadata `x-request-id`. Here a
request whose bytes do not decode, or a `TarifError` raised anywhere below, becomes a typed gRPC
status (INVALID_ARGUMENT with the field, UNAVAILABLE when Redis is down); an unexpected exception
is logged with its stack and becomes INTERNAL, and the server keeps serving.

The edge wraps each method handler once, when the services are added to the server
(`EdgeRegistry`), and keeps its metric children: a grpc.aio server interceptor would run for
every call (two coroutines, a new handler and closures before the handler starts), and so would
`Metric.labels()`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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


class _Children:
    """Children of one metric bound at first use, by key (`.labels()` takes a lock and hashes
    the label tuple on every call; a series still appears only once it has a value)."""

    __slots__ = ("_bind", "_bound")

    def __init__(self, bind: Callable[[Any], Any]) -> None:
        self._bind = bind
        self._bound: dict[Any, Any] = {}

    def __getitem__(self, key: Any) -> Any:
        child = self._bound.get(key)
        if child is None:
            child = self._bound[key] = self._bind(key)
        return child


class _Meter:
    """The request count and latency of one method."""

    __slots__ = ("_latency", "_requests", "rpc")

    def __init__(self, metrics: EngineMetrics, rpc: str) -> None:
        self.rpc = rpc
        self._requests = _Children(lambda result: metrics.requests.labels(rpc, result))
        self._latency = _Children(lambda _: metrics.latency.labels(rpc))

    def request(self, result: str, count: int = 1) -> None:
        self._requests[result].inc(count)

    def latency(self, seconds: float) -> None:
        self._latency[None].observe(seconds)


class _EventResults:
    """`tarif_engine_batch_events` by result: one increment per result present in a batch
    answer, not per event."""

    def __init__(self, metrics: EngineMetrics) -> None:
        self._children = _Children(
            lambda result: metrics.events.labels(_RESULT_NAMES.get(result, "UNKNOWN"))
        )

    def count(self, answers: Any) -> None:
        for result, count in Counter(answer.result for answer in answers).items():
            self._children[result].inc(count)


def _unary(meter: _Meter, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    rpc = meter.rpc
    perf_counter = time.perf_counter

    async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = perf_counter()
        label = "INTERNAL"
        token = request_ids.set_current(_request_id(context))
        try:
            if request.__class__ is Undecodable:
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
            elapsed = perf_counter() - started
            meter.request(label)
            meter.latency(elapsed)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("rpc.done", extra={"rpc": rpc, "result": label, "seconds": elapsed})
            request_ids.reset(token)

    return wrapper


def _stream(
    meter: _Meter, events: _EventResults, behavior: Callable[..., AsyncIterator[Any]]
) -> Callable[..., AsyncIterator[Any]]:
    perf_counter = time.perf_counter

    async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            if request.__class__ is Undecodable:
                raise InvalidRequest("request", request.error)
            yield request

    async def wrapper(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        # one id for the whole stream; the call's own task ends with it, so no reset
        request_ids.set_current(_request_id(context))
        try:
            async for response in behavior(checked(requests), context):
                started = perf_counter()
                events.count(getattr(response, "answers", ()))
                meter.request("OK")
                yield response
                meter.latency(perf_counter() - started)
        except TarifError as exc:
            meter.request(_status(exc).name)
            await _abort(context, exc)
        except Exception as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            meter.request("INTERNAL")
            await _abort(context, exc)

    return wrapper


class EdgeRegistry:
    """Stands for the grpc.aio server while services are added to it (the generated
    `add_*Servicer_to_server(servicer, registry)`): every method handler reaches the server
    wrapped by the edge. Unary-unary and stream-stream methods are wrapped, the others (health's
    Watch) pass as they are."""

    def __init__(self, server: grpc.aio.Server, metrics: EngineMetrics) -> None:
        self._server = server
        self._metrics = metrics
        self._events = _EventResults(metrics)

    def wrap(self, rpc: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """`handler` of method `rpc` (the method's name without its service) with the edge."""
        if handler is None:
            return handler
        meter = _Meter(self._metrics, rpc)
        if handler.unary_unary is not None:
            return handler._replace(
                unary_unary=_unary(meter, handler.unary_unary),
                request_deserializer=_safe(handler.request_deserializer),
            )
        if handler.stream_stream is not None:
            return handler._replace(
                stream_stream=_stream(meter, self._events, handler.stream_stream),
                request_deserializer=_safe(handler.request_deserializer),
            )
        return handler

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        wrapped = {name: self.wrap(name, handler) for name, handler in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_Generic(self, h) for h in handlers))


class _Generic(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generic handler's answers wrapped by the edge, once per method (the server asks only
    for methods that are not registered)."""

    def __init__(self, registry: EdgeRegistry, inner: grpc.GenericRpcHandler) -> None:
        self._registry = registry
        self._inner = inner
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(details)
        if handler is None:
            return None
        known = self._wrapped.get(details.method)
        if known is None or known[0] is not handler:
            rpc = details.method.rsplit("/", 1)[-1]
            known = self._wrapped[details.method] = (handler, self._registry.wrap(rpc, handler))
        return known[1]
