"""gRPC load-generator jobs (run inside `loadtest.workers` processes).

* `unary_job`: closed loop, `concurrency` coroutines each with one ChargeEvent in flight: the
  most the engine can do with that many concurrent callers.
* `batch_job`: `streams` ChargeEvents streams, each with one batch of `batch` events in flight.
* `open_loop_job`: ChargeEvent sent at fixed times (`rate` per second) whatever the answers do,
  so a slow answer cannot slow the offered load (no coordinated omission).

Only answers received inside the common window count. Requests are pre-encoded bytes
(`loadtest.wire`) to keep the generator's CPU share small. `channels` in a spec opens that many
connections and spreads the callers or streams over them (for several engine processes on one
port, which the kernel assigns per connection).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from typing import Any

import grpc

from loadtest import wire
from loadtest.setup import msisdn
from loadtest.workers import Gate, Result, tally
from tarif.charging.v1 import charging_pb2 as pb

SERVICE = "/tarif.charging.v1.ChargingService"
CALL_TIMEOUT = 10.0  # seconds; an answer slower than this is counted as an error
MAX_IN_FLIGHT = 20_000  # open loop: beyond this the generator stops sending (reported)
_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]


def _channel(target: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=_OPTIONS)


async def _channels(
    spec: dict[str, Any], stack: contextlib.AsyncExitStack
) -> list[grpc.aio.Channel]:
    """`spec["channels"]` channels (default 1), each on its own TCP connection.

    Several engine processes on one port (`tarif engine --workers N`, SO_REUSEPORT) get
    connections, not calls, from the kernel: one connection would load one process only. gRPC
    shares one connection between channels to the same target unless each keeps a local
    subchannel pool.
    """
    count = max(1, int(spec.get("channels", 1)))
    options = [*_OPTIONS, ("grpc.use_local_subchannel_pool", 1)] if count > 1 else _OPTIONS
    return [
        await stack.enter_async_context(grpc.aio.insecure_channel(spec["target"], options=options))
        for _ in range(count)
    ]


def _encoder(spec: dict[str, Any]) -> wire.EventEncoder:
    return wire.EventEncoder([msisdn(i) for i in range(spec["subscribers"])])


def _unary(channel: grpc.aio.Channel) -> Any:
    return channel.unary_unary(
        f"{SERVICE}/ChargeEvent",
        request_serializer=None,  # requests are already bytes
        response_deserializer=pb.EventAnswer.FromString,
    )


def summary(latencies: list[float]) -> dict[str, float]:
    """p50/p99/max in ms of latencies in seconds (empty list -> zeros)."""
    if not latencies:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(latencies)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": ordered[-1] * 1000}


def _cpu() -> float:
    return time.process_time()


async def unary_job(spec: dict[str, Any], gate: Gate) -> Result:
    """Closed loop: `concurrency` callers, each sends its next event when the last is answered."""
    wire.self_check()
    encode, rng = _encoder(spec), random.Random(spec["seed"])
    n, tag = spec["subscribers"], spec["tag"]
    results: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        calls = [_unary(channel) for channel in await _channels(spec, stack)]
        for i, call in enumerate(calls):  # every connection up before the window
            await call(encode.event(0, f"{tag}-warm{i}", wire.stamp_field()), timeout=CALL_TIMEOUT)
        start = await gate.wait()
        end = start + spec["duration"]
        cpu0 = _cpu()

        async def caller(who: int) -> None:
            seq = 0
            call = calls[who % len(calls)]
            while time.monotonic() < end:
                seq += 1
                request = encode.event(rng.randrange(n), f"{tag}-{who}-{seq}", wire.stamp_field())
                sent = time.monotonic()
                try:
                    answer = await call(request, timeout=CALL_TIMEOUT)
                except grpc.aio.AioRpcError as exc:
                    errors[exc.code().name] += 1
                    continue
                done = time.monotonic()
                if done <= end:
                    results[answer.result] += 1
                    latencies.append(done - sent)

        await asyncio.gather(*(caller(i) for i in range(spec["concurrency"])))
        cpu = _cpu() - cpu0
    return tally(results, errors, cpu, latencies=latencies)


async def batch_job(spec: dict[str, Any], gate: Gate) -> Result:
    """`streams` ChargeEvents streams; each writes a batch, reads its answer, repeats."""
    wire.self_check()
    encode, rng = _encoder(spec), random.Random(spec["seed"])
    n, tag, size = spec["subscribers"], spec["tag"], spec["batch"]
    results: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    batch_latencies: list[float] = []
    counter = 0

    def make_batch() -> bytes:
        nonlocal counter
        stamp = wire.stamp_field()
        events = []
        for _ in range(size):
            counter += 1
            events.append(encode.event(rng.randrange(n), f"{tag}-{counter}", stamp))
        return wire.batch_bytes(events)

    async with contextlib.AsyncExitStack() as stack:
        openers = [
            channel.stream_stream(
                f"{SERVICE}/ChargeEvents",
                request_serializer=None,
                response_deserializer=pb.EventBatchAnswer.FromString,
            )
            for channel in await _channels(spec, stack)
        ]
        for open_stream in openers:  # every connection up before the window
            warm = open_stream(timeout=CALL_TIMEOUT)
            await warm.write(make_batch())
            await warm.read()
            await warm.done_writing()
        start = await gate.wait()
        end = start + spec["duration"]
        cpu0 = _cpu()

        async def stream(which: int) -> None:
            call = openers[which % len(openers)](timeout=spec["duration"] + CALL_TIMEOUT + 5)
            try:
                while time.monotonic() < end:
                    payload = make_batch()
                    sent = time.monotonic()
                    await call.write(payload)
                    answer = await call.read()
                    done = time.monotonic()
                    if answer is grpc.aio.EOF:
                        errors["EOF"] += 1
                        return
                    if done <= end:
                        batch_latencies.append(done - sent)
                        results.update(a.result for a in answer.answers)
                await call.done_writing()
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1

        await asyncio.gather(*(stream(i) for i in range(spec["streams"])))
        cpu = _cpu() - cpu0
    return tally(results, errors, cpu, latencies=batch_latencies)


async def warm_job(spec: dict[str, Any], gate: Gate) -> Result:
    """Charge every subscriber once, in batches, so the engine's route cache is full.

    Measurements are of the steady state: a cold route cache costs one extra, sequential GET
    per event of a batch (see the report), which would otherwise blur the first phase.
    """
    wire.self_check()
    encode, tag, size = _encoder(spec), spec["tag"], spec["batch"]
    n = spec["subscribers"]
    answered = 0
    start = await gate.wait()
    async with _channel(spec["target"]) as channel:
        open_stream = channel.stream_stream(
            f"{SERVICE}/ChargeEvents",
            request_serializer=None,
            response_deserializer=pb.EventBatchAnswer.FromString,
        )
        call = open_stream(timeout=spec["duration"] + CALL_TIMEOUT)
        for first in range(0, n, size):
            if time.monotonic() > start + spec["duration"]:
                break
            stamp = wire.stamp_field()
            indexes = range(first, min(n, first + size))
            await call.write(
                wire.batch_bytes([encode.event(i, f"{tag}-{i}", stamp) for i in indexes])
            )
            answer = await call.read()
            answered += len(answer.answers)
        await call.done_writing()
        call = _unary(channel)
        for i in range(min(n, 200)):  # and the unary path
            await call(encode.event(i, f"{tag}-u{i}", wire.stamp_field()), timeout=CALL_TIMEOUT)
    return {"events": answered, "results": {}, "errors": {}, "cpu": 0.0}


async def open_loop_job(spec: dict[str, Any], gate: Gate) -> Result:
    """Send at t0 + i/rate for i < rate * duration; never wait for an answer to send."""
    wire.self_check()
    encode, rng = _encoder(spec), random.Random(spec["seed"])
    n, tag, rate = spec["subscribers"], spec["tag"], float(spec["rate"])
    total = int(rate * spec["duration"])
    results: collections.Counter[int] = collections.Counter()
    errors: collections.Counter[str] = collections.Counter()
    latencies: list[float] = []  # from the actual send
    scheduled_latencies: list[float] = []  # from the planned send time
    lags: list[float] = []
    skipped = 0
    pending: set[asyncio.Task[None]] = set()

    async with contextlib.AsyncExitStack() as stack:
        calls = [_unary(channel) for channel in await _channels(spec, stack)]
        for k, call in enumerate(calls):  # every connection up before the window
            await call(encode.event(0, f"{tag}-warm{k}", wire.stamp_field()), timeout=CALL_TIMEOUT)
        start = await gate.wait()
        cpu0 = _cpu()

        async def one(request: bytes, due: float, sent: float, call: Any) -> None:
            try:
                answer = await call(request, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                errors[exc.code().name] += 1
                return
            done = time.monotonic()
            results[answer.result] += 1
            latencies.append(done - sent)
            scheduled_latencies.append(done - due)

        i = 0
        while i < total:
            now = time.monotonic()
            while i < total and start + i / rate <= now:
                due = start + i / rate
                if len(pending) >= MAX_IN_FLIGHT:
                    skipped += 1
                else:
                    request = encode.event(rng.randrange(n), f"{tag}-{i}", wire.stamp_field())
                    sent = time.monotonic()
                    lags.append(sent - due)
                    task = asyncio.create_task(one(request, due, sent, calls[i % len(calls)]))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                i += 1
            if i < total:
                await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        send_end = time.monotonic()
        if pending:
            await asyncio.wait(pending, timeout=CALL_TIMEOUT + 1)
        cpu = _cpu() - cpu0
    return tally(
        results,
        errors,
        cpu,
        latencies=latencies,
        scheduled_latencies=scheduled_latencies,
        lags=lags,
        offered=total,
        skipped=skipped,
        send_seconds=send_end - start,
    )


def merge(results: list[Result]) -> dict[str, Any]:
    """Sum counts and concatenate samples of several workers' results."""
    merged: dict[str, Any] = {"results": collections.Counter(), "errors": collections.Counter()}
    for result in results:
        for name, value in result.items():
            if name in ("results", "errors"):
                merged[name].update(value)
            elif isinstance(value, list):
                merged.setdefault(name, []).extend(value)
            elif isinstance(value, int | float):
                merged[name] = merged.get(name, 0) + value
    return merged
