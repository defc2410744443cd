"""A local Redis (Valkey) Cluster of a few masters, from the pip-installed server binary.

For tests and `loadtest.bench --cluster`: no valkey-cli needed. Each node is an `EmbeddedRedis`
started with `--cluster-enabled yes` on free loopback ports (its cluster bus port too); the
16384 slots are split evenly (CLUSTER ADDSLOTSRANGE), the nodes meet (CLUSTER MEET) and the
cluster is used once every node reports `cluster_state:ok` and sees every node. With
`replicas=1` each master gets a replica (CLUSTER REPLICATE), in sync before the cluster is
used, so a master lost (or a CLUSTER FAILOVER) hands its slots to its replica. A test bed, not a
deployment: every node on this machine.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import redis

from tarif_common.embedded import EmbeddedRedis, EmbeddedServerError, free_port
from tarif_common.redis_client import cluster_url

SLOTS = 16384
READY_TIMEOUT = 20.0


class _ClusterNode(EmbeddedRedis):
    """An EmbeddedRedis that is a cluster node (its own nodes.conf, bus port chosen here)."""

    def __init__(self, data_dir: Path, *, appendfsync: str, node_timeout_ms: int) -> None:
        super().__init__(data_dir, appendfsync=appendfsync)
        self.bus_port = 0
        self.node_timeout_ms = node_timeout_ms

    def _prepare(self) -> None:
        """Under the data dir's lock: always a fresh node (no slots, keys or peers of before)."""
        (self.data_dir / "nodes.conf").unlink(missing_ok=True)
        shutil.rmtree(self.data_dir / "appendonlydir", ignore_errors=True)

    def _command(self) -> list[str]:
        self.bus_port = free_port()
        return [
            *super()._command(),
            *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
            *("--cluster-port", str(self.bus_port)),
            *("--cluster-node-timeout", str(self.node_timeout_ms)),
        ]


class EmbeddedCluster:
    """`with EmbeddedCluster() as cluster: cluster.url` (redis+cluster://127.0.0.1:<port>).

    `data_dir` None: a temporary folder, removed on stop. Either way the cluster starts empty."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        masters: int = 3,
        replicas: int = 0,
        appendfsync: str = "everysec",
        node_timeout_ms: int = 5000,
    ) -> None:
        if not 1 <= masters <= 16:
            raise ValueError("masters: 1 to 16")
        if not 0 <= replicas <= 2:
            raise ValueError("replicas: 0 to 2 per master")
        self._temporary = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="tarif-cluster-")) if data_dir is None else data_dir
        )
        self.nodes = [
            _ClusterNode(
                self.data_dir / f"node{i}", appendfsync=appendfsync, node_timeout_ms=node_timeout_ms
            )
            for i in range(masters)
        ]
        # replica j of master i follows it: replica_nodes[i * replicas + j]
        self.replica_nodes = [
            _ClusterNode(
                self.data_dir / f"node{i}r{j}",
                appendfsync=appendfsync,
                node_timeout_ms=node_timeout_ms,
            )
            for i in range(masters)
            for j in range(replicas)
        ]
        self.replicas = replicas
        self._started = False

    @property
    def url(self) -> str:
        if not self._started:
            raise EmbeddedServerError("the embedded cluster is not running")
        return cluster_url("127.0.0.1", self.nodes[0].port)

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> str:
        if self._started:
            return self.url
        try:
            for node in self.nodes + self.replica_nodes:
                node.start()
            self._form()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self.url

    def _form(self) -> None:
        every = self.nodes + self.replica_nodes
        clients = [redis.Redis(host="127.0.0.1", port=node.port) for node in every]
        masters = clients[: len(self.nodes)]
        try:
            share = SLOTS // len(masters)
            for i, client in enumerate(masters):
                last = SLOTS - 1 if i == len(masters) - 1 else (i + 1) * share - 1
                client.cluster("ADDSLOTSRANGE", i * share, last)
            first = clients[0]
            for node in every[1:]:
                first.cluster("MEET", "127.0.0.1", node.port, node.bus_port)
            self._wait(lambda: all(_knows(client, len(every)) for client in clients))
            for index, client in enumerate(clients[len(self.nodes) :]):
                master = masters[index // self.replicas]
                client.cluster("REPLICATE", master.cluster("MYID").decode())
            self._wait(
                lambda: (
                    all(_ready(client, len(every)) for client in clients)
                    and all(_in_sync(client) for client in clients[len(self.nodes) :])
                )
            )
        finally:
            for client in clients:
                client.close()

    def _wait(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not done():
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"embedded cluster not ready within {READY_TIMEOUT:.0f} s ({self.data_dir})"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes + self.replica_nodes:
            node.stop()
        self._started = False
        if self._temporary:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _knows(client: redis.Redis, nodes: int) -> bool:
    fields = client.cluster("INFO")  # parsed by redis-py into a dict of text
    return int(fields.get("cluster_known_nodes", 0)) == nodes


def _ready(client: redis.Redis, nodes: int) -> bool:
    """The node sees the cluster as ok, knows every node and every master's slots."""
    fields = client.cluster("INFO")
    return (
        fields.get("cluster_state") == "ok"
        and int(fields.get("cluster_known_nodes", 0)) == nodes
        and int(fields.get("cluster_slots_ok", 0)) == SLOTS
    )


def _in_sync(client: redis.Redis) -> bool:
    """A replica whose link to its master is up (the first full sync done)."""
    info = client.info("replication")
    return bool(info.get("role") == "slave" and info.get("master_link_status") == "up")
