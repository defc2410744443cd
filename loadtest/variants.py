"""Cost of the atomic step for own balances, with thresholds, and through a sharing group.

    python -m loadtest.variants [--accounts 2000] [--rounds 40]

Measures Redis' own time inside EVALSHA (`INFO commandstats`, microseconds per event) for SMS
charges in batches of 250 events of one partition, the three variants interleaved round by round
so that drift (memory growth, other load) hits them alike. Reports the ratios that issue #4 asks
for: sharing / own (at most 1.5) and thresholds / own (at most 1.10).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from tarif_balances.model import EventStep, Route
from tarif_balances.ports import EventCall
from tarif_balances.provisioning import Provisioner, load_document
from tarif_balances.scripts import event_script_call, script_source
from tarif_catalog import CompiledCatalog, parse_catalog
from tarif_common import keys
from tarif_common.embedded import EmbeddedRedis

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"
CHUNK = 250
MEMBERS_PER_GROUP = 9


def _documents(accounts: int) -> dict[str, Any]:
    """Three populations of `accounts` each: own money, own money + thresholds, pool members."""
    money = [{"id": "main", "resource": "EUR", "amount": "1000000.00"}]
    docs: list[dict[str, Any]] = []
    for i in range(accounts):
        docs.append(
            {"id": f"own{i}", "plan": "basic", "services": [f"1{i:08d}"], "balances": money}
        )
        docs.append(
            {"id": f"thr{i}", "plan": "basic", "services": [f"2{i:08d}"], "balances": money,
             "credit_profile": "standard"}
        )  # fmt: skip
    groups = []
    for g in range(accounts // MEMBERS_PER_GROUP):
        owner = f"own{g}"  # the pool is an own-variant account's money
        members = []
        for m in range(MEMBERS_PER_GROUP):
            member = f"mem{g * MEMBERS_PER_GROUP + m}"
            docs.append({"id": member, "plan": "basic", "services": [f"3{g * 10 + m:08d}"]})
            members.append({"account": member})
        groups.append(
            {"id": f"g{g}", "owner": owner, "members": members,
             "policy": {"resources": {"EUR": {}}, "order": "own_first"}}
        )  # fmt: skip
    return {"accounts": docs, "sharing_groups": groups}


async def _routes(redis: Redis, prefix: str, count: int) -> dict[int, list[tuple[Route, str]]]:
    """(route, subscriber) of a population, by partition, read back from Redis."""
    by_partition: dict[int, list[tuple[Route, str]]] = {}
    numbers = {"own": "1", "thr": "2", "mem": "3"}
    for i in range(count):
        if prefix == "mem":
            subscriber = f"3{(i // MEMBERS_PER_GROUP) * 10 + i % MEMBERS_PER_GROUP:08d}"
        else:
            subscriber = f"{numbers[prefix]}{i:08d}"
        raw = await redis.get(keys.route(subscriber))
        partition, account, plan, group, owner = keys.text(raw or b"").split("|")
        route = Route(int(partition), account, plan, group, owner)
        by_partition.setdefault(route.partition, []).append((route, subscriber))
    return by_partition


async def _evalsha_usec(redis: Redis) -> float:
    stats = await redis.info("commandstats")
    return float(stats.get("cmdstat_evalsha", {}).get("usec", 0))


async def measure(accounts: int, rounds: int, redis: Redis) -> dict[str, float]:
    catalog = load_document(DEMO)["catalog"]
    provisioner = Provisioner(redis, 16)
    await provisioner.apply({"catalog": catalog, "accounts": []})
    documents = _documents(accounts)
    for start in range(0, len(documents["accounts"]), 500):
        await provisioner.apply({"accounts": documents["accounts"][start : start + 500]})
    await provisioner.apply({"sharing_groups": documents["sharing_groups"]})
    members = (accounts // MEMBERS_PER_GROUP) * MEMBERS_PER_GROUP
    populations = {
        "own": await _routes(redis, "own", accounts),
        "thresholds": await _routes(redis, "thr", accounts),
        "sharing": await _routes(redis, "mem", members),
    }
    compiled = CompiledCatalog(parse_catalog(catalog))
    now = datetime.now(UTC)
    sms = compiled.quote("basic", "sms", {"destination": "38641000000"}, now, 1)
    script = redis.register_script(script_source("event"))
    usec = dict.fromkeys(populations, 0.0)
    events = dict.fromkeys(populations, 0)
    rng = random.Random(7)
    serial = 0
    for _ in range(rounds):
        for name, by_partition in populations.items():
            partition = rng.choice(sorted(by_partition))
            chosen = [rng.choice(by_partition[partition]) for _ in range(CHUNK)]
            calls = []
            for route, subscriber in chosen:
                serial += 1
                step = EventStep(subscriber, "sms", f"v{serial}", now, {}, 1)
                calls.append(EventCall(route, step, sms, f"{now.year:04d}{now.month:02d}"))
            script_keys, args = event_script_call(calls, int(time.time() * 1000), 3600, 3600)
            before = await _evalsha_usec(redis)
            await script(keys=script_keys, args=args)
            usec[name] += await _evalsha_usec(redis) - before
            events[name] += len(calls)
    return {name: usec[name] / events[name] for name in populations}


async def main_async(accounts: int, rounds: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory() as folder,
        EmbeddedRedis(Path(folder), appendfsync="everysec") as server,
    ):
        redis = Redis.from_url(server.url)
        try:
            return await measure(accounts, rounds, redis)
        finally:
            await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.variants", description=__doc__)
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args(argv)
    per_event = asyncio.run(main_async(args.accounts, args.rounds))
    own = per_event["own"]
    print("| variant | µs per event inside EVALSHA | ratio to own | limit |")
    print("|---|---|---|---|")
    limits = {"own": "", "thresholds": "<= 1.10", "sharing": "<= 1.50"}
    for name, value in per_event.items():
        print(f"| {name} | {value:.1f} | {value / own:.2f} | {limits[name]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
