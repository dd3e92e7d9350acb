"""Every setting of every service, read once from the environment.

One model per concern; a service loads only the models it needs through :func:`load`,
which turns a bad value into one readable line and a non-zero exit instead of a traceback.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    NonNegativeInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from northbridge_shared.contracts import BRIDGE_GROUP, EMAIL_QUEUE, NOTIFICATION_QUEUE
from northbridge_shared.jobs import DEFAULT_ROUTES, Route

PositiveSeconds = Annotated[float, Field(gt=0)]


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class KafkaSettings(BaseSettings):
    """How to reach Kafka."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"


class RedisSettings(BaseSettings):
    """How to reach Redis (RQ's queues and the send records)."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    url: str = "redis://127.0.0.1:6379/0"


class LogSettings(BaseSettings):
    """Log level and rendering shared by every service."""

    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    # Case-insensitive: LOG_LEVEL=debug is common in shells and must not stop a service.
    level: Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)] = "INFO"
    format: Literal["json", "console"] = "json"


class MetricsSettings(BaseSettings):
    """Where the bridge and the workers serve ``/metrics`` (the gateway: on its own port)."""

    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - scraped from outside the container


class GatewaySettings(BaseSettings):
    """The HTTP gateway."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container must listen beyond loopback
    port: Annotated[int, Field(ge=1, le=65535)] = 9000
    workers: Annotated[int, Field(ge=1)] = Field(default_factory=lambda: os.cpu_count() or 1)
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    publish_timeout_s: PositiveSeconds = 5.0
    retry_after_s: Annotated[int, Field(ge=1)] = 5
    graceful_timeout_s: Annotated[int, Field(ge=1)] = 30
    linger_ms: Annotated[int, Field(ge=0)] = 5
    # A body that has not fully arrived this long after its headers gets 408.
    body_timeout_s: PositiveSeconds = 10.0
    # An idle keep-alive connection is closed after this; it is also the time a new
    # connection has to send its request's headers (aiohttp's one timer for both), which is
    # why it stays short. Behind a load balancer, set it above the balancer's idle timeout
    # (60 s on most), so the balancer closes first and never sends a request into a
    # connection the gateway is closing; max_connections then bounds slow clients.
    keepalive_s: Annotated[int, Field(ge=1)] = 5
    # Open connections per worker process; the next one gets 503 and is closed.
    max_connections: Annotated[int, Field(ge=1)] = 1000


def _default_heartbeat_file() -> Path:
    # The system temp dir (TMPDIR, else /tmp): writable by any user, even one without a HOME.
    return Path(tempfile.gettempdir()) / "northbridge-bridge.alive"


class BridgeHeartbeat(BaseModel):
    """The bridge's liveness file: the consume loop touches it, its health check reads it.

    A plain model, part of :class:`BridgeSettings`, so that the health check can read these two
    settings alone (a bad unrelated setting stops the bridge, not the check).

    Healthy means the loop turned (a poll, empty or not; an attempt at a batch step; a second
    of a retry's backoff) within ``heartbeat_max_age_s``, and the bridge whose pid the file
    holds still runs (one killed a second ago leaves a fresh file). Between two turns the
    loop waits on one call: a poll (the poll timeout, held under half the max age), a commit
    (30 s at most), one Redis attempt (about 20 s: a 10 s socket timeout, one retry) or one
    dead-letter send (aiokafka's 40 s request timeout; only if Kafka fails mid-batch does the
    idempotent producer wait for its return, and the bridge reads as stuck meanwhile). So
    60 s. The rebalance listener's wait (up to 120 s) holds the rebalance, not this loop: the
    loop goes on finishing its batch, which is what the listener waits for, then polling.
    """

    heartbeat_file: Path = Field(default_factory=_default_heartbeat_file)
    heartbeat_max_age_s: PositiveSeconds = 60.0


class BridgeSettings(BaseSettings, BridgeHeartbeat):
    """The Kafka → RQ bridge."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    group_id: str = BRIDGE_GROUP
    routes: dict[str, Route] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    poll_timeout_ms: Annotated[int, Field(ge=10)] = 1000
    # Kafka answers a fetch once it has fetch_min_bytes, or after fetch_max_wait_ms. With
    # Kafka's 1 byte, a trickle of events came as batches of one or two, each paying the
    # batch's fixed cost (a look-up, a transaction, a commit): at 120 events/s the bridge
    # and Kafka spent 6 ms of CPU per event against 0.1 ms at full load (make bench).
    fetch_min_bytes: Annotated[int, Field(ge=1)] = 64 * 1024
    fetch_max_wait_ms: Annotated[int, Field(ge=0)] = 100
    retry_backoff_max_s: PositiveSeconds = 30.0
    # /metrics on METRICS_HOST; 0: not served.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9101

    @field_validator("poll_timeout_ms")
    @classmethod
    def _poll_within_heartbeat(cls, value: int, info: ValidationInfo) -> int:
        # An idle bridge turns once per poll: a longer poll would read as a dead bridge.
        max_age_s = info.data.get("heartbeat_max_age_s")  # absent when itself invalid
        if max_age_s is not None and value / 1000 >= max_age_s / 2:
            raise ValueError(f"must be under half of BRIDGE_HEARTBEAT_MAX_AGE_S ({max_age_s} s)")
        return value


class JobSettings(BaseSettings):
    """Options the bridge gives every job it enqueues."""

    model_config = SettingsConfigDict(env_prefix="JOB_", extra="ignore")

    timeout_s: Annotated[int, Field(ge=1)] = 60
    retries: Annotated[int, Field(ge=0)] = 5
    retry_intervals_s: Annotated[list[NonNegativeInt], Field(min_length=1)] = Field(
        default_factory=lambda: [5, 30, 120, 600, 1800]
    )
    # A finished job is kept this long; while it exists a re-read event is not enqueued again.
    result_ttl_s: Annotated[int, Field(ge=1)] = 24 * 3600
    failure_ttl_s: Annotated[int, Field(ge=1)] = 7 * 24 * 3600
    # How long an event id stays bound to its event (topic and body; see identity.py): a
    # reused Idempotency-Key is refused, a conflicting record dead-lettered, for this long.
    # Counted from acceptance, so it covers the job's own life after it ran.
    event_id_ttl_s: Annotated[int, Field(ge=1)] = 8 * 24 * 3600

    @field_validator("event_id_ttl_s")
    @classmethod
    def _bound_while_jobs_live(cls, value: int, info: ValidationInfo) -> int:
        kept = [info.data[name] for name in ("result_ttl_s", "failure_ttl_s") if name in info.data]
        if kept and value < max(kept):
            raise ValueError(
                "must be at least as long as jobs are kept"
                f" (JOB_RESULT_TTL_S, JOB_FAILURE_TTL_S: {max(kept)} s)"
            )
        return value


class ReceiptSettings(BaseSettings):
    """The receipts every hop writes (see ``northbridge_shared.receipts``)."""

    model_config = SettingsConfigDict(env_prefix="RECEIPT_", extra="ignore")

    # How long an event's receipt is kept after its last hop; about 1 KB per event in Redis.
    ttl_s: Annotated[int, Field(ge=60)] = 24 * 3600


class WorkerHeartbeat(BaseModel):
    """rq's worker TTL: how often an idle worker shows it is alive, and its health check's bound.

    A plain model, part of :class:`WorkerSettings`, so that the health check reads it alone.
    An idle rq worker blocks on its queues for ``ttl_s - 15`` s, then writes its heartbeat
    and runs its maintenance if due; rq's default (420 s) would leave a gone worker looking
    alive, and its maintenance waiting, for minutes.
    """

    ttl_s: Annotated[int, Field(ge=20)] = 30


class WorkerSettings(BaseSettings, WorkerHeartbeat):
    """The email-worker processes."""

    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore")

    queues: list[str] = Field(default_factory=lambda: [NOTIFICATION_QUEUE, EMAIL_QUEUE])
    # "simple" runs jobs in the worker process (fast); "fork" isolates each job in a child.
    mode: Literal["simple", "fork"] = "simple"
    send_record_ttl_s: Annotated[int, Field(ge=60)] = 7 * 24 * 3600
    # How long an unfinished send blocks a retry: the time a killed worker's mail stays pending.
    # Keep it above JOB_TIMEOUT_S (no live send outlasts its job) and below the first retry
    # intervals' sum, or retries spent waiting on the lease run out.
    send_lease_s: Annotated[int, Field(ge=1)] = 90
    # rq's maintenance (every this many seconds, between jobs): re-runs abandoned jobs and
    # takes the scheduler back after a Redis restart. rq's default is 600 s.
    maintenance_interval_s: Annotated[int, Field(ge=1)] = 10
    # A started job whose worker is gone counts as abandoned (and is retried) once its
    # JOB_TIMEOUT_S plus this has passed since it started; rq's own margin is 60 s.
    abandoned_after_timeout_s: Annotated[int, Field(ge=1)] = 30
    # rq's own log: at INFO it writes four lines per job (dequeued, completed, OK, result
    # kept), a tenth of a worker's time under load; the worker's mail_sent line and the
    # receipt say the same. INFO brings them back.
    rq_log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)
    ] = "WARNING"
    # /metrics on METRICS_HOST; 0: not served. Each worker on one host needs its own.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9102


class DashboardSettings(BaseSettings):
    """The operator's dashboard (``northbridge dashboard``)."""

    model_config = SettingsConfigDict(env_prefix="DASHBOARD_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container must listen beyond loopback
    port: Annotated[int, Field(ge=1, le=65535)] = 9180
    # Off: the dashboard only shows. On: it can retry and delete failed jobs, replay dead letters.
    actions: bool = False


class SmtpSettings(BaseSettings):
    """The mail server the workers deliver to."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1025
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: PositiveSeconds = 10.0
    # A worker keeps its connection for this many mails (1: a new connection per mail), and
    # replaces one idle longer than idle_s. Providers cap mails per connection (often 100).
    mails_per_connection: Annotated[int, Field(ge=1)] = 100
    idle_s: PositiveSeconds = 30.0


class MailSettings(BaseSettings):
    """What the mails look like."""

    model_config = SettingsConfigDict(env_prefix="MAIL_", extra="ignore")

    sender: str = "northbridge@localhost"
    default_recipient: str = "ops@localhost"
    message_id_domain: str = "northbridge.local"


S = TypeVar("S", bound=BaseSettings)


def load(model: type[S]) -> S:
    """Read ``model`` from the environment, or exit with one line per bad setting."""
    try:
        return model()
    except ValidationError as error:
        prefix = str(model.model_config.get("env_prefix", ""))
        for problem in error.errors():
            field, *inside = problem["loc"]
            name = (prefix + str(field)).upper() + "".join(f"[{part}]" for part in inside)
            print(f"invalid setting {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
