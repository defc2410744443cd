"""The engine's CPU per batched event, in-process: `python -m loadtest.batch_path`.

What one `ChargeEvents` batch costs the engine's Python, without gRPC's transport and without
Redis, so that a change to the hot path can be measured on a busy machine (docs/profile.md):
CPU time (`process_time`) is steady where events/s is not. Each batch of `--events` SMS events
(the benchmark's, random subscribers of 2,000; `--service voice`: calls of up to 30 minutes to
banded and band-less destinations, some crossing a band's end) goes through the servicer's steps:

* request: `EventBatch.FromString` (what gRPC's deserializer does), `convert.batch_event`;
* charge: `Charger.events` (validation, cached routes, rating, fingerprints, cycles, the
  coalescer), with a store that does the per-event work of `RedisBalanceStore.events` but no
  I/O: `event_script_call` per chunk of a partition (pack), then each event's answer decoded
  from a recorded `event.lua` answer (`unpack`, `event_outcome`: decode);
* answer: `convert.batch_answer` and its serialization.

A round is `--batches` batches after one warm-up batch; the figure is the median over
`--rounds` rounds. `--compare NAME=DIR` runs each round in a new process per build, importing
the engine's modules from DIR first (e.g. `git archive main | tar -x -C DIR`), the builds in
alternating order; each build also reports a digest of every script argument it packed and of
every answer it serialized, which must match across builds (same requests, same answers).
`--instructions` counts instead the instructions of the measured batches under callgrind (one
round per build, about 25 s each): steady where CPU time on a shared machine is not.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

from engine import convert
from engine.charger import Charger
from engine.routes import RouteCache
from engine.validation import Limits
from loadtest import setup, wire
from tarif.charging.v1 import charging_pb2 as pb
from tarif_balances.model import EventOutcome, RefundOutcome, Route, SessionOutcome
from tarif_balances.ports import (
    STALE_ROUTE,
    EventCall,
    RefundCall,
    SessionCall,
    StaleRoute,
    StoredBalance,
    UnratedEvent,
)
from tarif_balances.scripts import event_outcome, event_script_call, unpack
from tarif_catalog import CompiledCatalog, parse_catalog
from tarif_common import request_ids
from tarif_common.settings import Settings

SUBSCRIBERS = 2000
CHUNK = 250  # StoreLimits.batch_chunk
IDEMPOTENCY_TTL, RETRY_TTL = Settings().idempotency_ttl, Settings().retry_ttl
# Tuesday 18 November 2025, noon in Ljubljana (a weekday: the peak band applies to Slovenian
# calls), and 19:32 (a call of more than 28 minutes crosses 20:00); the engine's clock is 20:00.
AT_NS = 1_763_463_600_123_000_000
LATE_NS = AT_NS + (7 * 60 + 32) * 60 * 10**9
NOW = AT_NS / 1e9 + 8 * 3600
REQUEST_ID = "0123456789abcdef0123456789abcdef"

# event.lua's answers to one SMS debit, recorded from Redis (demo catalog, `loadtest.setup`
# accounts): drawn from the free SMS, and paid with money (an account without free SMS).
FREE_SMS = (
    b"\x8e\xa1c\x00\xa1d\x02\xa1g\x01\xa2ru\x01\xa2rt\xa9sms-std:*\xa3svc\xa3sms\xa3imp\x91\x93"
    b"\xa3sms\xa9sms_count\xff\xa3cur\xa3EUR\xa1r\x01\xa1t\xa7sms-std\xa1h\xb0cf5cae9c8a3fc0d8"
    b"\xa2rf\x00\xa2tc\x00\xa2mr\xa3EUR"
)
MONEY_SMS = (
    b"\x8e\xa1c\x05\xa1d\x02\xa1g\x01\xa2ru\x01\xa2rt\xa9sms-std:*\xa3svc\xa3sms\xa3imp\x91\x93"
    b"\xa4main\xa3EUR\xfb\xa3cur\xa3EUR\xa1r\x01\xa1t\xa7sms-std\xa1h\xb06177224e3b7d92cd"
    b"\xa2rf\x00\xa2tc\x05\xa2mr\xa3EUR"
)
# ... and to a 75 s call to Slovenia: drawn from free seconds, and paid with money.
FREE_VOICE = (
    b"\x8f\xa1c\x00\xa1d\x02\xa1gK\xa2ruK\xa2rt\xadvoice-std:386\xa3svc\xa5voice\xa3imp\x91"
    b"\x93\xa5voice\xadvoice_seconds\xd0\xb5\xa3cur\xa3EUR\xa1r\x01\xa1t\xa9voice-std\xa1h"
    b"\xb08b2150c640ce30c4\xa2rf\x00\xa1x\xa3386\xa2tc\x00\xa2mr\xa3EUR"
)
MONEY_VOICE = (
    b"\x8f\xa1c\x04\xa1d\x02\xa1gK\xa2ruK\xa2rt\xadvoice-std:386\xa3svc\xa5voice\xa3imp\x91"
    b"\x93\xa4main\xa3EUR\xfc\xa3cur\xa3EUR\xa1r\x01\xa1t\xa9voice-std\xa1h"
    b"\xb043ce36eab07674b3\xa2rf\x00\xa1x\xa3386\xa2tc\x04\xa2mr\xa3EUR"
)
ANSWERS = {"sms": (FREE_SMS, MONEY_SMS), "voice": (FREE_VOICE, MONEY_VOICE)}
# voice destinations: Slovenian numbers (rated by band: peak on weekdays 08-20), Italy, elsewhere
DESTINATIONS = ("38641000000", "38640123456", "3861234567", "390612345678", "12125550100")

STAGES = ("request", "charge", "pack", "decode", "answer")
CALLGRIND = [
    "valgrind",
    "--tool=callgrind",
    "--collect-atstart=no",
    "--toggle-collect=functools_reduce",
    "--callgrind-out-file=/dev/null",
]


@dataclass
class RecordedStore:
    """A `ChargingStore` for the batched path only: the packing and decoding of
    `RedisBalanceStore.events` (one `event_script_call` per chunk of a partition; an answer
    per event), with recorded answers instead of Redis: accounts of an odd-numbered subscriber
    pay with money, the others draw free SMS."""

    routes: dict[str, Route]
    answers: dict[str, bytes]  # by account
    cpu: dict[str, float] = field(default_factory=dict)
    packed: list[Any] = field(default_factory=list)  # every call's KEYS and ARGV, for the digest

    async def resolve_many(self, subscribers: Sequence[str]) -> list[Route | None]:
        return [self.routes.get(s) for s in subscribers]

    async def events(
        self, calls: Sequence[EventCall], now_ms: int
    ) -> list[EventOutcome | StaleRoute]:
        started = time.process_time()
        groups: dict[int, list[int]] = {}
        for index, call in enumerate(calls):
            groups.setdefault(call.route.partition, []).append(index)
        chunks: list[list[int]] = []
        for indexes in groups.values():
            chunks.extend(indexes[i : i + CHUNK] for i in range(0, len(indexes), CHUNK))
        packed = [
            event_script_call([calls[i] for i in chunk], now_ms, IDEMPOTENCY_TTL, RETRY_TTL)
            for chunk in chunks
        ]
        decoding = time.process_time()
        outcomes: list[EventOutcome | StaleRoute] = [STALE_ROUTE] * len(calls)
        answers = self.answers
        for chunk in chunks:
            for index in chunk:
                call = calls[index]
                answer = unpack(answers[call.route.account])
                outcomes[index] = event_outcome(answer, call.step.event_id)
        done = time.process_time()
        self.cpu["pack"] = self.cpu.get("pack", 0.0) + decoding - started
        self.cpu["decode"] = self.cpu.get("decode", 0.0) + done - decoding
        self.packed.append(packed)  # digested after the round, outside what is measured
        return outcomes

    async def session(self, call: SessionCall, now_ms: int) -> SessionOutcome | StaleRoute:
        raise NotImplementedError

    async def refund(self, call: RefundCall, now_ms: int) -> RefundOutcome | StaleRoute:
        raise NotImplementedError

    async def balances(self, route: Route, subscriber: str) -> list[StoredBalance] | None:
        raise NotImplementedError

    async def keep_unrated(self, events: Sequence[UnratedEvent], now_ms: int) -> int:
        raise RuntimeError(f"{len(events)} benchmark events were not rated")


def _batches(events: int, count: int, seed: int, service: str = "sms") -> list[bytes]:
    """Serialized `EventBatch`es as the benchmark's generator makes them (SMS), or of calls of
    1-1,800 s to `DESTINATIONS` (voice; a call of more than 1,680 s crosses 20:00 at peak)."""
    if service == "voice":
        return _voice_batches(events, count, seed)
    wire.self_check()
    encode = wire.EventEncoder([setup.msisdn(i) for i in range(SUBSCRIBERS)])
    rng = random.Random(seed)
    stamp = wire.stamp_field(AT_NS)
    counter = 0
    made = []
    for _ in range(count):
        batch = []
        for _ in range(events):
            counter += 1
            batch.append(encode.event(rng.randrange(SUBSCRIBERS), f"bp-{counter}", stamp))
        made.append(wire.batch_bytes(batch))
    return made


def _voice_batches(events: int, count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    made = []
    for number in range(count):
        batch = pb.EventBatch()
        for index in range(events):
            event = batch.events.add(
                subscriber=setup.msisdn(rng.randrange(SUBSCRIBERS)),
                service="voice",
                event_id=f"bpv-{number}-{index}",
                units=rng.randrange(1, 1801),
            )
            event.attributes["destination"] = rng.choice(DESTINATIONS)
            event.event_time.FromNanoseconds(LATE_NS if index % 2 else AT_NS)
        made.append(batch.SerializeToString())
    return made


def _store(service: str = "sms") -> RecordedStore:
    routes, answers = {}, {}
    free, money = ANSWERS[service]
    for i in range(SUBSCRIBERS):
        partition, account = setup.route_of(i)
        routes[setup.msisdn(i)] = Route(partition, account, setup.PLAN)
        answers[account] = money if i % 2 else free
    return RecordedStore(routes, answers)


class BatchPath:
    """The servicer's steps for one batch (`ChargingServicer.ChargeEvents`), timed by stage."""

    def __init__(self, service: str = "sms") -> None:
        compiled = CompiledCatalog(parse_catalog(setup.demo_catalog()))

        class Catalog:
            current = compiled

        self.store = _store(service)
        routes = RouteCache(SUBSCRIBERS)
        for subscriber, route in self.store.routes.items():
            routes.put(subscriber, route)
        self.charger = Charger(
            self.store, Catalog(), routes, Limits(10**12, 30 * 86400, 300), lambda: NOW
        )
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.answered: list[bytes] = []  # serialized answers, for the digest
        self.results: dict[int, int] = {}

    def reset(self) -> None:
        """Forget the CPU counted so far (after the warm-up)."""
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self.store.cpu.clear()

    async def batch(self, payload: bytes) -> None:
        clock = _clock
        t0 = time.process_time()
        batch = pb.EventBatch.FromString(payload)
        steps = [convert.batch_event(e, i, clock) for i, e in enumerate(batch.events)]
        t1 = time.process_time()
        outcomes = await self.charger.events(steps) if steps else []
        t2 = time.process_time()
        raw = convert.batch_answer(outcomes).SerializeToString()
        t3 = time.process_time()
        cpu = self.cpu
        cpu["request"] += t1 - t0
        cpu["charge"] += t2 - t1
        cpu["answer"] += t3 - t2
        self.answered.append(raw)
        for outcome in outcomes:
            self.results[int(outcome.result)] = self.results.get(int(outcome.result), 0) + 1

    def figures(self, events: int) -> dict[str, Any]:
        cpu = self.cpu | self.store.cpu
        return {
            "per_event_us": {k: v * 1e6 / events for k, v in cpu.items()},
            "total_us": (cpu["request"] + cpu["charge"] + cpu["answer"]) * 1e6 / events,
            "digest": f"{_digest(self.store.packed)}/{_digest(self.answered)}",
            "results": self.results,
            "engine": sys.modules[Charger.__module__].__file__,
        }


def _digest(made: list[Any]) -> str:
    return blake2b(repr(made).encode(), digest_size=8).hexdigest()


def _clock() -> float:
    return NOW


async def _round(events: int, batches: int, seed: int, service: str = "sms") -> dict[str, Any]:
    """One round: a warm-up batch, then `batches` batches, each stage's CPU in seconds."""
    path = BatchPath(service)
    payloads = _batches(events, batches + 1, seed, service)
    with request_ids.bound(REQUEST_ID):
        for number, payload in enumerate(payloads):
            if number == 1:  # after the warm-up
                path.reset()
            await path.batch(payload)
    return path.figures(events * batches)


def _one_round(args: argparse.Namespace) -> dict[str, Any]:
    if args.instructions_inside:
        return _counted_round(args.events, args.batches, args.seed, args.service)
    return asyncio.run(_round(args.events, args.batches, args.seed, args.service))


def _counted_round(events: int, batches: int, seed: int, service: str) -> dict[str, Any]:
    """A round for callgrind: the measured batches run inside `functools.reduce`, the C function
    whose calls callgrind counts (`--toggle-collect`); set-up and the warm-up batch do not."""
    path = BatchPath(service)
    payloads = _batches(events, batches + 1, seed, service)
    loop = asyncio.new_event_loop()
    with request_ids.bound(REQUEST_ID):
        loop.run_until_complete(path.batch(payloads[0]))
        path.reset()
        functools.reduce(lambda _, p: loop.run_until_complete(path.batch(p)), payloads[1:], None)
    loop.close()
    return path.figures(events * batches)


def _in_build(source: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """One round in a new process importing the engine from `source` (None: this checkout);
    with `--instructions`, under callgrind, counting the instructions of the measured batches."""
    argv = ["--json", "--events", str(args.events), "--batches", str(args.batches)]
    argv += ["--seed", str(args.seed), "--service", args.service]
    argv += ["--instructions-inside"] if args.instructions else []
    prelude = f"sys.path.insert(0, {source!r}); " if source else ""
    code = (
        f"import runpy, sys; {prelude}sys.argv = ['batch_path', *{argv!r}]; "
        f"runpy.run_path({__file__!r}, run_name='__main__')"
    )
    command = [sys.executable, "-c", code]
    if args.instructions:
        command = [*CALLGRIND, *command]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    if args.instructions:
        counted = re.search(r"Collected : (\d+)", done.stderr)
        if counted is None:
            raise RuntimeError(f"no instruction count from callgrind:\n{done.stderr}")
        result["instructions"] = int(counted[1]) / (args.events * args.batches)
    return result


def _row(name: str, rounds: list[dict[str, Any]]) -> str:
    totals = [r["total_us"] for r in rounds]
    stages = [statistics.median(r["per_event_us"][s] for r in rounds) for s in STAGES]
    figures = " | ".join(f"{v:.1f}" for v in stages)
    return (
        f"| {name} | {statistics.median(totals):.1f} | {min(totals):.1f}-{max(totals):.1f} "
        f"| {figures} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500, help="events per batch")
    parser.add_argument("--batches", type=int, default=20, help="measured batches per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--service", choices=sorted(ANSWERS), default="sms")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per event with callgrind instead (one round per build)",
    )
    parser.add_argument("--json", action="store_true", help="one round, as JSON (internal)")
    parser.add_argument("--instructions-inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(_one_round(args)))
        return 0
    builds: list[tuple[str, str | None]] = [("this", None)]
    builds += [(name, path) for name, _, path in (c.partition("=") for c in args.compare)]
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in builds}
    rounds = 1 if args.instructions else args.rounds
    for number in range(rounds):
        order = builds if number % 2 == 0 else builds[::-1]
        for name, source in order:
            alone = len(builds) == 1 and not args.instructions
            result = _one_round(args) if alone else _in_build(source, args)
            measured[name].append(result)
            figure = (
                f"{result['instructions']:,.0f} instructions/event"
                if args.instructions
                else f"{result['total_us']:.1f} µs/event"
            )
            print(f"round {number + 1} {name}: {figure}", file=sys.stderr)
    if args.instructions:
        _instructions_table(measured)
    else:
        _cpu_table(measured)
    for name, results in measured.items():
        seen = ", ".join(sorted({r["digest"] for r in results}))
        print(
            f"- {name}: engine from {results[0]['engine']}; results {results[0]['results']};"
            f" digest of the script arguments/answers {seen}"
        )
    if len({r["digest"] for results in measured.values() for r in results}) != 1:
        print("the builds packed or answered differently", file=sys.stderr)
        return 1
    return 0


def _cpu_table(measured: dict[str, list[dict[str, Any]]]) -> None:
    print(
        "| build | CPU µs/event (median) | min-max | request | charge | of it: pack | decode "
        "| answer | CPU vs this |"
    )
    print("|---|---|---|" + "---|" * (len(STAGES) + 1))
    base = statistics.median(r["total_us"] for r in measured["this"])
    for name, results in measured.items():
        ratio = statistics.median(r["total_us"] for r in results) / base
        print(f"{_row(name, results)} {ratio:.2f} |")
    print()


def _instructions_table(measured: dict[str, list[dict[str, Any]]]) -> None:
    print("| build | instructions per event (callgrind) | vs this |")
    print("|---|---|---|")
    base = measured["this"][0]["instructions"]
    for name, results in measured.items():
        counted = results[0]["instructions"]
        print(f"| {name} | {counted:,.0f} | {counted / base:.2f} |")
    print()


if __name__ == "__main__":
    sys.exit(main())
