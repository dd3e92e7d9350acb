"""The email-worker's own settings: ``WORKER_*``, ``SMTP_*``, ``MAIL_*``."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from northbridge_shared.settings import LogLevel, PositiveSeconds, QueueSettings


class WorkerHeartbeat(BaseModel):
    """rq's worker TTL: how often an idle worker shows it is alive, and its health check's bound.

    A plain model, part of :class:`WorkerSettings`, so that the health check reads it alone.
    An idle rq worker blocks on its queues for ``ttl_s - 15`` s, then writes its heartbeat
    and runs its maintenance if due; rq's default (420 s) would leave a gone worker looking
    alive, and its maintenance waiting, for minutes.
    """

    ttl_s: Annotated[int, Field(ge=20)] = 30


class WorkerSettings(QueueSettings, WorkerHeartbeat):
    """The email-worker processes."""

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
    rq_log_level: LogLevel = "WARNING"
    # /metrics on METRICS_HOST; 0: not served. Each worker on one host needs its own.
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9102


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
