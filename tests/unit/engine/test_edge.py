"""The edge wraps every method handler once, when a service is added, whichever way it is added."""

from __future__ import annotations

from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from engine.edge import EdgeRegistry, Undecodable
from engine.metrics import EngineMetrics


class Server:
    """What `EdgeRegistry` hands on: the handlers a grpc.aio server would get."""

    def __init__(self) -> None:
        self.registered: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        self.generic: list[Any] = []

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self.registered[service] = handlers

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)


class Details:
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def echo(request: Any, context: Any) -> Any:
    return request


async def echoes(requests: Any, context: Any) -> Any:
    async for request in requests:
        yield request


def handlers() -> dict[str, grpc.RpcMethodHandler]:
    return {
        "Echo": grpc.unary_unary_rpc_method_handler(echo, request_deserializer=bytes.decode),
        "Echoes": grpc.stream_stream_rpc_method_handler(echoes, request_deserializer=bytes.decode),
        "Watch": grpc.unary_stream_rpc_method_handler(echoes),
    }


def test_registered_handlers_are_wrapped_once_at_registration() -> None:
    server = Server()
    EdgeRegistry(server, EngineMetrics(CollectorRegistry())).add_registered_method_handlers(
        "svc", handlers()
    )
    given, wrapped = handlers(), server.registered["svc"]
    assert wrapped["Echo"].unary_unary is not given["Echo"].unary_unary
    assert wrapped["Echoes"].stream_stream is not given["Echoes"].stream_stream
    assert wrapped["Watch"] == given["Watch"]  # unary-stream passes as it is
    # an undecodable request reaches the wrapper as such, which answers INVALID_ARGUMENT
    decode = wrapped["Echo"].request_deserializer
    assert decode(b"ok") == "ok"
    assert isinstance(decode(b"\xff"), Undecodable)


def test_generic_handlers_are_wrapped_once_per_method() -> None:
    server = Server()
    EdgeRegistry(server, EngineMetrics(CollectorRegistry())).add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("svc", handlers()),)
    )
    (generic,) = server.generic
    first = generic.service(Details("/svc/Echo"))
    assert first.unary_unary is not echo
    assert generic.service(Details("/svc/Echo")) is first
    assert generic.service(Details("/svc/Nothing")) is None
