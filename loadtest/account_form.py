"""Redis time of an account's read and write in two forms: `python -m loadtest.account_form`.

Issue #14 asks for account data "in a form that is cheap to read in Lua". Today an account is a
hash: static fields (`b:<id>` = `res|from|to|prio|floor`, `s:<service>`, `st`, `pt`, ...) and
one counter per balance (`a:<id>`, moved by HINCRBY). The alternative is the whole account as one
msgpack value: one GET and one `cmsgpack.unpack` to read, but every balance move re-packs it and
SETs it whole. Each piece is timed inside one EVAL that repeats it `--repeat` times (the call's
own cost spread thin), the fastest of `--runs` runs, minus an empty loop, in µs per piece:

* `hash read`: lib.lua's `load_account` (HGETALL and its parse), exactly what the scripts run;
* `msgpack read`: GET, `cmsgpack.unpack`, and the id index the scripts need;
* `hash write`: one HINCRBY of a balance;
* `msgpack write`: the same move in the table, `cmsgpack.pack`, SET.

The account is a demo account with three balances and two services; it writes to database 15
of the given Redis (keys `tarif:bench:acct:*`, deleted after), or of an embedded Valkey with an
append-only file (`--embedded always|everysec`, as the engine's).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import uvloop
from redis.asyncio import Redis

from tarif_balances.scripts import pack
from tarif_common.embedded import EmbeddedRedis

HASH_KEY, PACKED_KEY = "tarif:bench:acct:h", "tarif:bench:acct:m"
HASH = {
    "st": "active",
    "pt": "prepaid",
    "s:38640000061": "pre-basic",
    "s:38640000062": "pre-basic",
    "b:main": "EUR|0|9007199254740991|100|0",
    "a:main": "1000000",
    "b:sms-pack": "sms|1764000000000|1766592000000|10|0",
    "a:sms-pack": "100",
    "b:data": "data|1764000000000|1766592000000|20|0",
    "a:data": "5368709120",
}
PACKED = {
    "st": "active",
    "pt": "prepaid",
    "services": {"38640000061": "pre-basic", "38640000062": "pre-basic"},
    "bal": [
        {"id": "main", "res": "EUR", "from": 0, "to": 9007199254740991, "prio": 100, "floor": 0,
         "a": 1000000, "v": 0},
        {"id": "sms-pack", "res": "sms", "from": 1764000000000, "to": 1766592000000, "prio": 10,
         "floor": 0, "a": 100, "v": 0},
        {"id": "data", "res": "data", "from": 1764000000000, "to": 1766592000000, "prio": 20,
         "floor": 0, "a": 5368709120, "v": 0},
    ],
}  # fmt: skip

PIECES = {
    "empty loop": "",
    "hash read": "local acct = load_account(KEYS[1])",
    "msgpack read": """
        local acct = cmsgpack.unpack(redis.call('GET', KEYS[2]))
        acct.index = {}
        for _, b in ipairs(acct.bal) do acct.index[b.id] = b end""",
    "hash write": "redis.call('HINCRBY', KEYS[1], 'a:main', -1)",
    "msgpack write": """
        packed.bal[1].a = packed.bal[1].a - 1
        redis.call('SET', KEYS[2], cmsgpack.pack(packed))""",
}


def _lib() -> str:
    """lib.lua, for `load_account`."""
    return (resources.files("tarif_balances") / "lua" / "lib.lua").read_text()


def _script(body: str) -> str:
    """lib.lua, then the piece in a loop of ARGV[1] turns."""
    return f"""{_lib()}
local packed = cmsgpack.unpack(redis.call('GET', KEYS[2]))
for i = 1, tonumber(ARGV[1]) do
{body}
end
return 0
"""


async def measure(url: str, repeat: int, runs: int) -> dict[str, float]:
    redis = Redis.from_url(url)
    try:
        await redis.delete(HASH_KEY, PACKED_KEY)
        await redis.hset(HASH_KEY, mapping=HASH)  # type: ignore[arg-type]
        await redis.set(PACKED_KEY, pack(PACKED))
        # both forms must hold the same account, else the comparison means nothing
        check = redis.register_script(
            _lib()
            + """
local acct, packed = load_account(KEYS[1]), cmsgpack.unpack(redis.call('GET', KEYS[2]))
local seen = {}
for _, b in ipairs(packed.bal) do
  local h = acct.index[b.id]
  if h and h.a == b.a and h.res == b.res and h.to == b.to and h.prio == b.prio then
    seen[#seen + 1] = b.id
  end
end
return seen"""
        )
        same = await check(keys=[HASH_KEY, PACKED_KEY], args=[0])
        if len(same) != len(PACKED["bal"]):
            raise RuntimeError(f"the two forms differ: only {same} match")
        best: dict[str, float] = {}
        for _ in range(runs):
            for name, body in PIECES.items():  # interleaved: a slow moment hits every piece
                script = redis.register_script(_script(body))
                started = time.perf_counter()
                await script(keys=[HASH_KEY, PACKED_KEY], args=[repeat])
                took = (time.perf_counter() - started) / repeat * 1e6
                best[name] = min(best.get(name, took), took)
        base = best.pop("empty loop")
        return {name: max(0.0, took - base) for name, took in best.items()}
    finally:
        await redis.delete(HASH_KEY, PACKED_KEY)
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.account_form", description=__doc__)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15")
    parser.add_argument(
        "--embedded",
        choices=("always", "everysec"),
        help="start an embedded Valkey with this appendfsync instead of using --url",
    )
    parser.add_argument("--repeat", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.embedded:
        with (
            tempfile.TemporaryDirectory() as state,
            EmbeddedRedis(Path(state), appendfsync=args.embedded) as server,
        ):
            url = server.url.rsplit("/", 1)[0] + "/15"
            figures = uvloop.run(measure(url, args.repeat, args.runs))
    else:
        figures = uvloop.run(measure(args.url, args.repeat, args.runs))
    print("| piece | µs |\n|---|---|")
    for name, took in figures.items():
        print(f"| {name} | {took:.2f} |")
    read = figures["hash read"], figures["msgpack read"]
    write = figures["hash write"], figures["msgpack write"]
    print(
        f"\nread + one balance move: hash {read[0] + write[0]:.2f} µs, "
        f"msgpack {read[1] + write[1]:.2f} µs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
