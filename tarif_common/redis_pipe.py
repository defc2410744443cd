"""Lean transport for the charging scripts: long-lived pipelined connections, one reader each.

redis-py's asyncio client spends 120-170 µs of CPU per EVALSHA (a pool checkout, a per-command
`asyncio.timeout`, per-argument packing, stream reads); the engine pays it once per unary call
(docs/profile.md). Here a command is one `transport.write` of RESP packed in one `join`, and its
reply comes back through hiredis to a FIFO of futures: Redis answers the commands of a
connection in the order it received them, so the n-th reply belongs to the n-th waiter.

What redis-py did for us and this does too:
- NOSCRIPT (after SCRIPT FLUSH, a restart or a failover): the script is sent again with EVAL,
  which also caches it; the EVALSHA did not run, so nothing runs twice.
- A dropped connection fails every command in flight with `ConnectionError` (whether those
  ran is unknown: the callers' request ids make their retries safe) and the next command
  connects again.
- A timeout per connection rather than per command: when the oldest command in flight has
  waited `timeout` seconds, every command in flight fails with `TimeoutError` and the connection
  is closed, since a late reply would be matched to the wrong waiter.
- On a cluster, each command goes to the node of its first key's slot (the slot map is redis-py's
  `RedisCluster`); MOVED refreshes the map and sends again, ASK sends ASKING and the command to
  the node named (neither ran where it was refused).

Errors are redis-py's exception classes, so callers handle both transports alike.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import hiredis
from redis import exceptions as redis_errors
from redis._parsers.base import BaseParser
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url

from tarif_common.redis_client import RedisClient

Arg = bytes | str | int
Command = Sequence[Arg]
MAX_REDIRECTS = 5


def pack_command(args: Command) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:  # a float or None would be packed wrong, or mean a caller's mistake
            raise redis_errors.DataError(f"cannot send {type(arg).__name__} to Redis: {arg!r}")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A script's text and its SHA1, computed here: no SCRIPT LOAD before the first call."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """How to reach and greet one node: credentials, database, TLS, timeouts."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    db: int = 0
    tls: ssl.SSLContext | None = None
    timeout: float = 5.0
    name: str = "tarif-scripts"  # what CLIENT LIST shows for these connections

    @classmethod
    def from_url(cls, url: str, timeout: float) -> NodeOptions:
        given = parse_url(url)
        tls = None
        if url.startswith("rediss"):
            tls = ssl.create_default_context()
            if given.get("ssl_cert_reqs") == "none":
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        return cls(
            host=str(given.get("host", "127.0.0.1")),
            port=int(given.get("port", 6379)),
            username=given.get("username"),
            password=given.get("password"),
            db=int(given.get("db", 0) or 0),
            tls=tls,
            timeout=timeout,
        )

    def greeting(self) -> list[bytes]:
        """The commands a new connection sends before any other (their replies are checked)."""
        commands = []
        if self.password is not None:
            auth: list[Arg] = ["AUTH", self.password]
            if self.username:
                auth.insert(1, self.username)
            commands.append(pack_command(auth))
        if self.db:
            commands.append(pack_command(["SELECT", self.db]))
        commands.append(pack_command(["CLIENT", "SETNAME", self.name]))
        return commands


class _Link(asyncio.Protocol):
    """One connection: writes commands, matches replies to waiters in order."""

    def __init__(self, timeout: float) -> None:
        self._reader = hiredis.Reader(replyError=BaseParser.parse_error)
        self._waiting: collections.deque[tuple[float, asyncio.Future[Any]]] = collections.deque()
        self._transport: asyncio.WriteTransport | None = None
        self._timeout = timeout
        self._watch: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.WriteTransport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        try:
            while (reply := self._reader.gets()) is not False:
                _, future = waiting.popleft()
                if not future.done():
                    if isinstance(reply, Exception):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # garbage, or a reply nobody asked for
            self._fail(redis_errors.ConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis_errors.ConnectionError(f"Redis connection lost: {exc or 'closed'}"))
        if not self._lost.done():
            self._lost.set_result(None)

    async def wait_closed(self) -> None:
        """Until the socket is really closed (closing only schedules it on the loop)."""
        await asyncio.shield(self._lost)

    def send(self, payload: bytes, count: int) -> list[asyncio.Future[Any]]:
        """Write `count` packed commands at once; one future per reply."""
        if self.closed or self._transport is None:
            raise redis_errors.ConnectionError("Redis connection closed")
        deadline = self._loop.time() + self._timeout
        futures = [self._loop.create_future() for _ in range(count)]
        self._waiting.extend((deadline, future) for future in futures)
        self._transport.write(payload)
        if self._watch is None:
            self._watch = self._loop.call_at(deadline, self._check)
        return futures

    def _check(self) -> None:
        """Fail everything once the oldest command has waited too long; else look again when
        the (new) oldest one is due."""
        self._watch = None
        if not self._waiting:
            return
        oldest = self._waiting[0][0]
        if oldest <= self._loop.time():
            self._fail(redis_errors.TimeoutError(f"no Redis reply in {self._timeout} s"))
        else:
            self._watch = self._loop.call_at(oldest, self._check)

    def _fail(self, error: Exception) -> None:
        self.closed = True
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        waiting, self._waiting = self._waiting, collections.deque()
        for _, future in waiting:
            if not future.done():
                future.set_exception(error)
        if self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        self._fail(redis_errors.ConnectionError("Redis connection closed by the client"))


class NodePipe:
    """Pipelined connections to one Redis node, opened on first use and again after a loss."""

    def __init__(self, options: NodeOptions, connections: int = 1) -> None:
        self.options = options
        self._links: list[_Link | None] = [None] * max(1, connections)
        self._opening: list[asyncio.Future[_Link] | None] = [None] * len(self._links)
        self._next = 0
        self._closed = False

    async def send(self, commands: Sequence[bytes]) -> list[asyncio.Future[Any]]:
        """Packed commands in order on one connection; one future per reply."""
        if self._closed:
            raise redis_errors.ConnectionError("Redis connections closed by the client")
        index = self._next
        self._next = (index + 1) % len(self._links)
        link = self._links[index]
        if link is None or link.closed:
            link = await self._link(index)
        return link.send(b"".join(commands), len(commands))

    async def _link(self, index: int) -> _Link:
        opening = self._opening[index]
        if opening is None:  # one connect per slot, however many callers wait for it
            opening = asyncio.ensure_future(self._connect())
            self._opening[index] = opening
            opening.add_done_callback(lambda _: self._opening.__setitem__(index, None))
        link = await asyncio.shield(opening)
        if self._closed:  # closed while connecting: the new connection must not outlive it
            link.close()
            raise redis_errors.ConnectionError("Redis connections closed by the client")
        self._links[index] = link
        return link

    async def _connect(self) -> _Link:
        o = self.options
        loop = asyncio.get_running_loop()
        try:
            _, link = await asyncio.wait_for(
                loop.create_connection(lambda: _Link(o.timeout), o.host, o.port, ssl=o.tls),
                o.timeout,
            )
        except (TimeoutError, OSError) as exc:
            raise redis_errors.ConnectionError(
                f"cannot connect to Redis at {o.host}:{o.port}: {exc}"
            ) from exc
        greeting = o.greeting()
        replies = await asyncio.gather(
            *link.send(b"".join(greeting), len(greeting)), return_exceptions=True
        )
        for reply in replies:
            if reply != b"OK":
                link.close()
                raise redis_errors.ConnectionError(f"Redis refused the greeting: {reply!r}")
        return link

    def close(self) -> list[_Link]:
        """Close every connection; returns them, to wait for their sockets."""
        self._closed = True
        links = [link for link in self._links if link is not None]
        for link in links:
            link.close()
        self._links = [None] * len(self._links)
        return links


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One script run: its KEYS (the first decides the node on a cluster) and ARGV."""

    script: LuaScript
    keys: Sequence[str]
    args: Sequence[Arg]

    def evalsha(self) -> bytes:
        return pack_command(["EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args])

    def eval(self) -> bytes:
        return pack_command(["EVAL", self.script.source, len(self.keys), *self.keys, *self.args])


class ScriptPipe:
    """Runs script calls over `NodePipe`s: one node, or the nodes of a cluster by slot."""

    def __init__(
        self, options: NodeOptions, cluster: RedisCluster | None = None, connections: int = 1
    ) -> None:
        self._options = options
        self._cluster = cluster
        self._connections = connections
        self._nodes: dict[tuple[str, int], NodePipe] = {}
        self._closed = False

    @classmethod
    def for_client(
        cls,
        url: str,
        client: RedisClient,
        timeout: float = 5.0,
        connections: int = 1,
        name: str = "tarif-scripts",
    ) -> ScriptPipe:
        """A pipe to the server (or cluster) `client` was made for, with `url`'s credentials;
        `name` is what CLIENT LIST shows for its connections."""
        plain = url.replace("+cluster://", "://", 1)
        options = dataclasses.replace(NodeOptions.from_url(plain, timeout), name=name)
        cluster = client if isinstance(client, RedisCluster) else None
        return cls(options, cluster, connections)

    def _node(self, host: str, port: int) -> NodePipe:
        pipe = self._nodes.get((host, port))
        if pipe is None:
            if self._closed:
                raise redis_errors.ConnectionError("Redis connections closed by the client")
            options = dataclasses.replace(self._options, host=host, port=port)
            pipe = self._nodes[(host, port)] = NodePipe(options, self._connections)
        return pipe

    async def _route(self, key: str) -> NodePipe:
        if self._cluster is None:
            return self._node(self._options.host, self._options.port)
        if not self._cluster.nodes_manager.slots_cache:
            await self._cluster.initialize()
        node = self._cluster.get_node_from_key(key)
        if node is None:  # pragma: no cover - get_node_from_key raises for an uncovered slot
            raise redis_errors.ClusterDownError(f"no node serves the slot of {key}")
        return self._node(node.host, int(node.port))

    async def run(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Replies of the calls, in order. Calls to one node go out in one write; a script
        error (or any error reply) is raised after every call has finished, the first one."""
        if len(calls) == 1:  # a unary charge: no grouping, no gather
            call = calls[0]
            node = await self._route(call.keys[0])
            (future,) = await node.send([call.evalsha()])
            try:
                return [await future]
            except redis_errors.ResponseError as error:
                reply = await self._again(call, error)
                if isinstance(reply, BaseException):
                    raise reply from None
                return [reply]
        by_node: dict[NodePipe, list[int]] = {}
        for index, call in enumerate(calls):
            node = await self._route(call.keys[0])
            by_node.setdefault(node, []).append(index)
        futures: list[asyncio.Future[Any]] = []
        order: list[int] = []
        try:
            for node, indexes in by_node.items():
                futures.extend(await node.send([calls[i].evalsha() for i in indexes]))
                order.extend(indexes)
        finally:  # a node that cannot be reached: the others' replies are still collected
            replies = await asyncio.gather(*futures, return_exceptions=True)
        ordered: list[Any] = [None] * len(calls)
        for index, reply in zip(order, replies, strict=True):
            if isinstance(reply, redis_errors.ResponseError):
                reply = await self._again(calls[index], reply)
            ordered[index] = reply
        for reply in ordered:
            if isinstance(reply, BaseException):
                raise reply
        return ordered

    async def _again(self, call: ScriptCall, error: BaseException) -> Any:
        """A call refused without running (the script unknown there, or its slot elsewhere)
        is sent again; any other error is returned as it is."""
        use_eval, asking, node = False, False, None
        for _ in range(MAX_REDIRECTS):
            if isinstance(error, redis_errors.NoScriptError):
                use_eval = True  # EVAL runs the text and caches it: later EVALSHAs find it
            elif isinstance(error, redis_errors.MovedError):
                assert self._cluster is not None, "MOVED from a single server"
                await self._cluster.nodes_manager.initialize()
                node, asking = None, False
            elif isinstance(error, redis_errors.AskError):
                node, asking = self._node(error.host, int(error.port)), True
            else:
                return error
            target = node or await self._route(call.keys[0])
            payload = [call.eval() if use_eval else call.evalsha()]
            if asking:
                payload.insert(0, pack_command(["ASKING"]))
            sent = await target.send(payload)
            try:
                return (await asyncio.gather(*sent))[-1]
            except redis_errors.ResponseError as again:
                error = again
        return error

    def close(self) -> list[_Link]:
        """Close every connection, for good: later calls fail with ConnectionError."""
        self._closed = True
        links = [link for node in self._nodes.values() for link in node.close()]
        self._nodes.clear()
        return links

    async def aclose(self) -> None:
        """`close`, then wait until the sockets are closed (before the event loop ends)."""
        links = self.close()
        if links:
            await asyncio.wait_for(asyncio.gather(*(link.wait_closed() for link in links)), 5)
