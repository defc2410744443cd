"""One settings object per process, read from the environment (12-factor).

Names without a prefix (`REDIS_URL`, `DATABASE_URL`) are the conventional ones; everything else is
`TARIF_*`. An unset URL means "start an embedded server" (see `tarif_common.embedded`).
"""

from __future__ import annotations

import socket
from decimal import Decimal
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.eu import at_02
from stdnum.exceptions import ValidationError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TARIF_", extra="ignore", frozen=True)

    # `redis://host:6379/0` one server; `redis+cluster://host:7000` a Redis (Valkey) Cluster
    # through any of its nodes (docs/cluster.md); unset: an embedded server.
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
    # How long a request id is remembered (replays inside it get the stored answer): the refund
    # window for a charged event (refunds read and update its stored answer), and the retry window
    # for refunds and adjustments.
    idempotency_ttl: int = Field(default=7 * 86400, ge=60)
    # The retry window of answers nothing refunds: session steps and events that charged nothing.
    retry_ttl: int = Field(default=86400, ge=60)
    # Largest unit count accepted in one request (guards against absurd input).
    max_units: int = Field(default=10**12, ge=1, le=2**50)
    # Accepted event_time window around the server clock.
    max_event_age: int = Field(default=30 * 86400, ge=60)
    max_clock_skew: int = Field(default=300, ge=0)

    # Redis connections per engine process; a request waits up to redis_pool_timeout for one.
    # On a cluster: per node, at least max_concurrent_rpcs + 8 (a request never waits there).
    redis_max_connections: int = Field(default=64, ge=1, le=10_000)
    redis_pool_timeout: float = Field(default=5.0, gt=0)
    # The engine's charging scripts go over their own pipelined connections (one per Redis node
    # by default; redis-py's pool serves the rest). False: through the pool like everything else.
    redis_pipe: bool = True
    redis_pipe_connections: int = Field(default=1, ge=1, le=64)
    # Seconds a script call on those connections may wait for its reply before it (and every call
    # in flight on its connection) fails UNAVAILABLE and the connection is opened again.
    redis_timeout: float = Field(default=5.0, gt=0)
    # gRPC calls handled at once; beyond it calls fail fast with RESOURCE_EXHAUSTED.
    max_concurrent_rpcs: int = Field(default=2000, ge=1)
    # Seconds a client connection lives before the engine asks the client to reconnect (GOAWAY,
    # +-10 % jitter): clients balancing on their side (DNS `round_robin`, an L4 balancer) then
    # reach engines started since. 0: never (the default: one engine or an L7 proxy gains
    # nothing from it, and every reconnection costs a TLS handshake). The grace is how long calls
    # still open on a connection told to go may go on before it is closed under them (a
    # ChargeEvents stream ends UNAVAILABLE and is reopened); unset: as long as they last.
    engine_max_connection_age: float = Field(default=0.0, ge=0, le=86400)
    engine_max_connection_age_grace: float | None = Field(default=None, ge=0, le=86400)

    catalog_poll_interval: float = Field(default=2.0, gt=0)
    route_cache_size: int = Field(default=200_000, ge=0)
    sweep_interval: float = Field(default=1.0, gt=0)
    shutdown_grace: float = Field(default=10.0, ge=0)

    # TLS for gRPC: server cert + key; a client CA turns on mutual TLS.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    # Admin API (REST): where it listens; how long a closed account is kept before deletion.
    admin_addr: str = "127.0.0.1:8080"
    closed_retention_days: int = Field(default=90, ge=0, le=3650)
    outbox_interval: float = Field(default=2.0, gt=0)
    # Largest request body in bytes: a larger one is refused (413) before it is read whole.
    admin_max_body: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    # Largest balance adjustment an operator may make, in the resource's unit (admins: any).
    operator_adjustment_limit: Decimal = Field(default=Decimal("50"), ge=0)

    # billing_batch: its metrics, its name in the streams' consumer groups (unique per process),
    # and how long a read-but-unacknowledged stream entry waits before another consumer takes it.
    batch_metrics_addr: str = "127.0.0.1:9465"
    batch_consumer: str = Field(default_factory=socket.gethostname, min_length=1)
    stream_claim_idle: float = Field(default=30.0, gt=0)

    # Notifier. A delivery is tried up to notify_max_attempts times, waiting notify_backoff
    # seconds after the first failure and twice as long after each next one (at most
    # notify_backoff_max); then it is dead-lettered. A sender holds a delivery for notify_lease
    # seconds: if it dies, the delivery is taken again after that (longer than notify_timeout).
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff: float = Field(default=5.0, gt=0)
    notify_backoff_max: float = Field(default=3600.0, gt=0)
    notify_timeout: float = Field(default=10.0, gt=0)
    notify_lease: float = Field(default=60.0, gt=0)
    notify_concurrency: int = Field(default=20, ge=1, le=1000)
    # Operator-supplied templates (`<type>.email.j2`, `<type>.sms.j2`) override the built-in ones.
    templates_dir: Path | None = None
    # E-mail (SMTP). No host: the e-mail channel is off and its deliveries are recorded as skipped.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    mail_from: str = "Tarif <notifications@localhost>"
    # SMS through an HTTP gateway: POST {to, from, text} as JSON with a bearer token.
    sms_gateway_url: str | None = None
    sms_gateway_token: str | None = None
    sms_sender: str = "Tarif"
    # Webhook: every notification POSTed as JSON, signed (Standard Webhooks, HMAC-SHA256).
    webhook_url: str | None = None
    webhook_secret: str | None = None

    # Billing. The seller on every invoice (EN 16931 needs name, address and country; an invoice
    # made without them is recorded as failed, with the reason, and made again once they are set).
    seller_name: str = ""
    seller_address: str = ""
    seller_city: str = ""
    seller_postcode: str = ""
    seller_country: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    seller_vat_id: str = ""
    seller_company_id: str = ""
    seller_email: str = ""
    seller_iban: str = ""
    # Invoice and credit note number series (gapless each), payment terms, and the tax of a
    # charge whose profile names none (a name in the taxes reference table).
    invoice_series: str = Field(default="INV", pattern=r"^[A-Za-z0-9_-]{1,20}$")
    credit_note_series: str = Field(default="CN", pattern=r"^[A-Za-z0-9_-]{1,20}$")
    payment_terms_days: int = Field(default=30, ge=0, le=365)
    default_tax: str | None = None
    # A billing run takes this many due profiles per transaction (several runs share the work).
    billing_chunk: int = Field(default=500, ge=1, le=100_000)
    # Purchase check (docs/jobs-purchases.md): a prepaid renewal the balance cannot pay suspends
    # the product at once; later runs try again, and after this many days unpaid it is cancelled.
    renewal_grace_days: int = Field(default=7, ge=0, le=365)
    # Collections (docs/collections.md): the reminder terms of a billing profile that names none
    # (unset: such profiles are never reminded).
    default_reminder_terms: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,32}$")

    # SEPA direct debit (docs/sepa.md): the creditor identifier (AT-02, its check digits
    # verified), the name and account collections are made for. Unset: no collection is made.
    # The BIC is optional (pain.008.001.08 accepts an IBAN alone).
    sepa_creditor_id: str = ""
    sepa_creditor_name: str = Field(default="", max_length=70)
    sepa_creditor_iban: str = ""
    sepa_creditor_bic: str = ""

    # Payment collection (docs/payment-collection.md). The card payment gateway (HTTP JSON;
    # unset: cards are not charged) and its key; how long one request may take; how often a
    # charge that met a transient error is sent again within a run (waiting payment_gateway_backoff
    # seconds, doubled each time); the days from one failed attempt to the next (after the last,
    # the job gives up and raises an alert); invoices per chunk, charges sent at once; how long a
    # run holds an attempt it is sending before another run may finish it.
    payment_gateway_url: str | None = None
    payment_gateway_key: str | None = None
    payment_gateway_timeout: float = Field(default=10.0, gt=0, le=300)
    payment_gateway_retries: int = Field(default=3, ge=0, le=10)
    payment_gateway_backoff: float = Field(default=0.5, ge=0, le=60)
    payment_retry_days: tuple[int, ...] = Field(default=(1, 3, 7), max_length=20)
    payment_collection_chunk: int = Field(default=200, ge=1, le=10_000)
    payment_collection_concurrency: int = Field(default=16, ge=1, le=500)
    payment_claim_seconds: float = Field(default=300.0, gt=0)

    # Operations jobs (docs/jobs.md). A run "as of" a chosen "process now" date is refused in
    # production: simulating dates is for test and staging deployments.
    environment: Literal["production", "staging", "test", "development"] = "production"
    # Every batch process schedules due jobs (every jobs_poll_interval seconds; several side by
    # side share the work, no leader) and runs up to jobs_concurrency runs at once (at least 2:
    # PgQueuer takes one at a time and keeps room for two). A run whose worker stops
    # heartbeating for jobs_heartbeat_timeout seconds is taken by another worker and resumed; a
    # run whose workers died jobs_max_attempts times is marked failed (a retry finishes it).
    jobs_enabled: bool = True
    jobs_poll_interval: float = Field(default=5.0, gt=0, le=3600)
    jobs_concurrency: int = Field(default=4, ge=2, le=100)
    jobs_heartbeat_timeout: float = Field(default=30.0, gt=0, le=3600)
    jobs_max_attempts: int = Field(default=3, ge=1, le=100)
    # PgQueuer's own log of queue entries is trimmed to this many days (the history is job_runs)
    jobs_queue_log_days: int = Field(default=7, ge=1, le=3650)

    # Export job destinations (docs/jobs-reporting.md). A job's criteria name secrets, never hold
    # them: `password_ref` / `secret_ref` are keys of TARIF_EXPORT_SECRETS (a JSON object: SFTP
    # passwords, webhook signing secrets), `key_ref` a key of TARIF_EXPORT_SFTP_KEYS (a JSON
    # object of private key files). SFTP servers' keys are checked against `host_key` in the
    # criteria, else this known hosts file (unset: ~/.ssh/known_hosts). A file larger than
    # export_mail_max_bytes is not sent by e-mail (the delivery fails: use SFTP or a webhook).
    export_secrets: dict[str, SecretStr] = Field(default_factory=dict)
    export_sftp_keys: dict[str, Path] = Field(default_factory=dict)
    export_sftp_known_hosts: Path | None = None
    export_timeout: float = Field(default=60.0, gt=0)
    export_mail_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator("sepa_creditor_id")
    @classmethod
    def _creditor_id(cls, value: str) -> str:
        if not value:
            return value
        try:
            return str(at_02.validate(value))
        except ValidationError as exc:
            raise ValueError(f"TARIF_SEPA_CREDITOR_ID: {exc}") from None

    @field_validator("sepa_creditor_iban")
    @classmethod
    def _creditor_iban(cls, value: str) -> str:
        try:
            return str(IBAN(value).compact) if value else value
        except SchwiftyException as exc:
            raise ValueError(f"TARIF_SEPA_CREDITOR_IBAN: {exc}") from None

    @field_validator("sepa_creditor_bic")
    @classmethod
    def _creditor_bic(cls, value: str) -> str:
        try:
            return str(BIC(value).compact) if value else value
        except SchwiftyException as exc:
            raise ValueError(f"TARIF_SEPA_CREDITOR_BIC: {exc}") from None

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Self:
        if self.notify_lease <= self.notify_timeout:
            raise ValueError("TARIF_NOTIFY_LEASE must be longer than TARIF_NOTIFY_TIMEOUT")
        if any(days < 1 for days in self.payment_retry_days):
            raise ValueError("TARIF_PAYMENT_RETRY_DAYS: each delay is at least one day")
        sending = self.payment_gateway_timeout * (self.payment_gateway_retries + 1)
        backoff = self.payment_gateway_backoff * (2**self.payment_gateway_retries - 1)
        if self.payment_claim_seconds <= sending + backoff:
            raise ValueError(
                "TARIF_PAYMENT_CLAIM_SECONDS must be longer than a charge's sends and waits"
                f" ({sending + backoff:g} s)"
            )
        if self.webhook_url and not self.webhook_secret:
            raise ValueError("TARIF_WEBHOOK_URL needs TARIF_WEBHOOK_SECRET (deliveries are signed)")
        return self
