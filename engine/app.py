"""The engine process: one App object owns Redis, the gRPC server, metrics and background tasks.

`async with App(settings) as app: await app.serve_until_stopped()` (see tarif_common.lifecycle).
On shutdown health turns NOT_SERVING and the server lets in-flight calls finish for
`shutdown_grace` seconds before the tasks and connections close.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from engine.charger import Charger
from engine.edge import EdgeRegistry
from engine.housekeeping import Sweeper, watch_gauges
from engine.metrics import EngineMetrics
from engine.routes import RouteCache
from engine.servicer import ChargingServicer
from engine.validation import Limits
from tarif.charging.v1 import charging_pb2, charging_pb2_grpc
from tarif_balances.store import RedisBalanceStore, StoreLimits
from tarif_catalog.cache import CatalogCache
from tarif_common import keys
from tarif_common.lifecycle import Process
from tarif_common.redis_client import connect, is_cluster_url
from tarif_common.redis_pipe import ScriptPipe
from tarif_common.settings import Settings

log = logging.getLogger(__name__)

SERVICE_NAME = charging_pb2.DESCRIPTOR.services_by_name["ChargingService"].full_name


def _credentials(settings: Settings) -> grpc.ServerCredentials | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    client_ca = settings.tls_client_ca.read_bytes() if settings.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _server_options(settings: Settings) -> list[tuple[str, int]]:
    """The gRPC server's channel arguments; a connection age (`engine_max_connection_age`) makes
    clients reconnect now and then, so that client-side balancing sees engines added since."""
    options = [("grpc.so_reuseport", 1), ("grpc.max_receive_message_length", 16 * 1024 * 1024)]
    if settings.engine_max_connection_age > 0:
        age_ms = max(1, round(settings.engine_max_connection_age * 1000))
        options.append(("grpc.max_connection_age_ms", age_ms))
        if settings.engine_max_connection_age_grace is not None:
            grace_ms = round(settings.engine_max_connection_age_grace * 1000)
            options.append(("grpc.max_connection_age_grace_ms", grace_ms))
    return options


class App(Process):
    name = "engine"

    def __init__(
        self,
        settings: Settings,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
        serve_metrics: bool = True,
    ) -> None:
        if settings.redis_url is None:
            raise ValueError("App needs settings.redis_url (the CLI starts an embedded Redis)")
        super().__init__(registry=registry)
        self.settings = settings
        self.metrics = EngineMetrics(self.registry)
        self.clock = clock
        self._metrics_wanted = serve_metrics
        self.grpc_port = 0

    async def _start(self) -> None:
        s = self.settings
        assert s.redis_url is not None
        # A bounded pool that waits for a free connection instead of failing at once. On a
        # cluster the bound is per node and an exhausted one fails at once: room for every RPC.
        self.redis = connect(
            s.redis_url,
            max_connections=max(s.redis_max_connections, s.max_concurrent_rpcs + 8)
            if is_cluster_url(s.redis_url)
            else s.redis_max_connections,
            pool_timeout=s.redis_pool_timeout,
            health_check_interval=30,
        )
        self._stack.push_async_callback(self.redis.aclose)
        await self.redis.ping()
        await self.redis.hsetnx(keys.META, "partitions", s.partitions)
        self.partitions = int(await self.redis.hget(keys.META, "partitions") or s.partitions)

        self.catalog = CatalogCache(self.redis, s.catalog_poll_interval)
        await self.catalog.refresh()
        pipe = None
        if s.redis_pipe:  # the charging scripts' own connections (docs/profile.md)
            pipe = ScriptPipe.for_client(
                s.redis_url, self.redis, s.redis_timeout, s.redis_pipe_connections
            )
            self._stack.push_async_callback(pipe.aclose)
        self.store = RedisBalanceStore(
            self.redis,
            StoreLimits.of(s),
            observe=self.metrics.script_latency,
            fired=self.metrics.thresholds_fired,
            unrated=self.metrics.unrated,
            pooled=self.metrics.pool_consumed,
            pipe=pipe,
        )
        self.charger = Charger(
            self.store,
            self.catalog,
            RouteCache(s.route_cache_size),
            Limits(s.max_units, s.max_event_age, s.max_clock_skew),
            clock=self.clock,
        )

        self.server = grpc.aio.server(
            maximum_concurrent_rpcs=s.max_concurrent_rpcs,
            options=_server_options(s),
        )
        edge = EdgeRegistry(self.server, self.metrics)  # every method with the edge
        charging_pb2_grpc.add_ChargingServiceServicer_to_server(
            ChargingServicer(self.charger, self.clock), edge
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, edge)
        names = (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        # what reflection.enable_server_reflection does for an aio server
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(names), edge
        )
        credentials = _credentials(s)
        if credentials is None:
            self.grpc_port = self.server.add_insecure_port(s.grpc_addr)
        else:
            self.grpc_port = self.server.add_secure_port(s.grpc_addr, credentials)
        await self.server.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

        if self._metrics_wanted:
            self._serve_metrics(s.metrics_addr)

        sweeper = Sweeper(self.store, self.partitions, self.metrics, self.clock)
        self._spawn("catalog", self.catalog.watch(self._stopped))
        self._spawn("sweeper", sweeper.run(s.sweep_interval, self._stopped))
        self._spawn(
            "gauges", watch_gauges(self.redis, self.partitions, self.metrics, 5.0, self._stopped)
        )
        # read at each scrape: the version the engine rates with now, not the one it started with
        self.metrics.catalog_version.set_function(lambda: self.catalog.version)
        log.info(
            "engine.started",
            extra={
                "grpc": s.grpc_addr,
                "grpc_port": self.grpc_port,
                "metrics_port": self.metrics_port,
            },
        )

    async def _before_tasks_stop(self) -> None:
        if hasattr(self, "health"):
            await self.health.enter_graceful_shutdown()
        if hasattr(self, "server"):
            await self.server.stop(self.settings.shutdown_grace)
