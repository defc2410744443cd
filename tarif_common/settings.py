"""One settings object per process, read from the environment (12-factor).

Names without a prefix (`REDIS_URL`, `DATABASE_URL`) are the conventional ones; everything else is
`TARIF_*`. An unset URL means "start an embedded server" (see `tarif_common.embedded`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TARIF_", extra="ignore", frozen=True)

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "TARIF_REDIS_URL")
    )
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TARIF_DATABASE_URL")
    )
    grpc_addr: str = "127.0.0.1:50051"
    metrics_addr: str = "127.0.0.1:9464"
    # Where embedded servers keep their data (AOF, Postgres cluster) and logs.
    state_dir: Path = Path(".state")
    # fsync policy of the embedded Redis' append-only file: `always` loses nothing acknowledged.
    redis_appendfsync: Literal["always", "everysec", "no"] = "always"

    # Number of Redis hash-tag partitions; fixed for a deployment (recorded in Redis).
    partitions: int = Field(default=16, ge=1, le=16384)
    # Seconds a grant is valid; the client must report (Update) before it runs out.
    validity_time: int = Field(default=300, ge=1, le=86400)
    # Extra seconds before an unreported reservation is released.
    reservation_grace: int = Field(default=30, ge=0, le=86400)
    # How long a request id is remembered (replays inside it get the stored answer).
    idempotency_ttl: int = Field(default=7 * 86400, ge=60)
    # Largest unit count accepted in one request (guards against absurd input).
    max_units: int = Field(default=10**12, ge=1, le=2**50)
    # Accepted event_time window around the server clock.
    max_event_age: int = Field(default=30 * 86400, ge=60)
    max_clock_skew: int = Field(default=300, ge=0)

    # Redis connections per engine process; a request waits up to redis_pool_timeout for one.
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)
    redis_pool_timeout: float = Field(default=5.0, gt=0)
    # gRPC calls handled at once; beyond it calls fail fast with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = Field(default=2000, ge=1)

    catalog_poll_interval: float = Field(default=2.0, gt=0)
    route_cache_size: int = Field(default=200_000, ge=0)
    sweep_interval: float = Field(default=1.0, gt=0)
    shutdown_grace: float = Field(default=10.0, ge=0)

    # TLS for gRPC: server cert + key; a client CA turns on mutual TLS.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
