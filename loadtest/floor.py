"""The bare gRPC floor: `ChargingService` answering SUCCESS at once, with no engine behind it.

`python -m loadtest.floor` serves it on TARIF_GRPC_ADDR with the engine's server options
(`engine.app`: SO_REUSEPORT, 16 MiB messages, the same concurrent-RPC cap, uvloop) and the
same request and answer types, but no interceptor, charger or Redis. What the load generators
reach against it is the most a single grpc.aio process can answer on this machine, so
engine / floor says how much of that the engine keeps; the bench starts and stops it
(`FloorProcess`) around its floor phases.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import grpc
import uvloop
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from loadtest.setup import EngineProcess
from tarif.charging.v1 import charging_pb2 as pb
from tarif_common.results import Result, diameter_code
from tarif_common.settings import Settings

DIAMETER_SUCCESS = diameter_code(Result.SUCCESS)
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ChargingService"].full_name


def _answer(event_id: str) -> pb.EventAnswer:
    return pb.EventAnswer(
        result=pb.SUCCESS, diameter_result_code=DIAMETER_SUCCESS, event_id=event_id
    )


async def charge_event(
    request: pb.EventRequest, context: grpc.aio.ServicerContext
) -> pb.EventAnswer:
    return _answer(request.event_id)


async def charge_events(
    requests: AsyncIterator[pb.EventBatch], context: grpc.aio.ServicerContext
) -> AsyncIterator[pb.EventBatchAnswer]:
    async for batch in requests:
        yield pb.EventBatchAnswer(answers=[_answer(e.event_id) for e in batch.events])


def no_op_charging() -> grpc.GenericRpcHandler:
    """ChargeEvent and ChargeEvents only (registered as the generated code registers them):
    decode, answer SUCCESS per event, nothing else; the other methods are UNIMPLEMENTED."""
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "ChargeEvent": grpc.unary_unary_rpc_method_handler(
                charge_event,
                request_deserializer=pb.EventRequest.FromString,
                response_serializer=pb.EventAnswer.SerializeToString,
            ),
            "ChargeEvents": grpc.stream_stream_rpc_method_handler(
                charge_events,
                request_deserializer=pb.EventBatch.FromString,
                response_serializer=pb.EventBatchAnswer.SerializeToString,
            ),
        },
    )


async def serve(addr: str) -> None:
    """Serve until SIGTERM or SIGINT; health SERVING once listening (the bench waits on it)."""
    server = grpc.aio.server(
        maximum_concurrent_rpcs=Settings().max_concurrent_rpcs,
        options=[
            ("grpc.so_reuseport", 1),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ],
    )
    server.add_generic_rpc_handlers((no_op_charging(),))
    checks = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    server.add_insecure_port(addr)
    await server.start()
    await checks.set("", health_pb2.HealthCheckResponse.SERVING)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1.0)


class FloorProcess(EngineProcess):
    """`python -m loadtest.floor` as a subprocess, started and stopped like the engine."""

    name = "floor"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "loadtest.floor"]


def main() -> None:
    uvloop.run(serve(os.environ.get("TARIF_GRPC_ADDR", "127.0.0.1:50151")))


if __name__ == "__main__":
    main()
