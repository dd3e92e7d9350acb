"""The email-worker's own settings: ``WORKER_*``, ``SMTP_*``, ``MAIL_*``."""

import ssl
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from northbridge_shared.settings import LogLevel, PositiveSeconds, QueueSettings, read_secret


def _default_heartbeat_file() -> Path:
    # The system temp dir (TMPDIR, else /tmp): writable by any user, even one without a HOME.
    return Path(tempfile.gettempdir()) / "northbridge-email-worker.alive"


class WorkerHeartbeat(BaseModel):
    """The worker's liveness file: rq's loop touches it, its health check reads it.

    A plain model, part of :class:`WorkerSettings`, so that the health check reads these two
    settings alone. The same rule as the bridge's (see :mod:`northbridge_shared.heartbeat`):
    healthy means the loop turned within ``heartbeat_max_age_s`` and its process runs. An
    idle worker turns every ``WORKER_TTL_S - 15`` s (its wait on the queues), a worker
    waiting for Redis every few seconds; a worker starting a job dates its beat forward by
    rq's deadline for that job (its timeout plus ``WORKER_ABANDONED_AFTER_TIMEOUT_S``).
    Several workers on one host need a file each (the local stack names them).
    """

    heartbeat_file: Path = Field(default_factory=_default_heartbeat_file)
    heartbeat_max_age_s: PositiveSeconds = 60.0


class WorkerSettings(QueueSettings, WorkerHeartbeat):
    """The email-worker processes."""

    # rq's worker TTL: an idle worker blocks on its queues for ttl_s - 15 s, then renews its
    # record in Redis and runs its maintenance if due; rq's default (420 s) would leave a
    # gone worker listed, and its maintenance waiting, for minutes.
    ttl_s: Annotated[int, Field(ge=20)] = 30
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

    @field_validator("ttl_s")
    @classmethod
    def _idle_turn_within_heartbeat(cls, value: int, info: ValidationInfo) -> int:
        # An idle worker turns once per wait on its queues: a longer wait would read as dead.
        max_age_s = info.data.get("heartbeat_max_age_s")  # absent when itself invalid
        if max_age_s is not None and value - 15 >= max_age_s / 2:
            raise ValueError(
                "less 15 s (an idle worker's wait on its queues) must be under half of"
                f" WORKER_HEARTBEAT_MAX_AGE_S ({max_age_s:g} s)"
            )
        return value


class SmtpSettings(BaseSettings):
    """The mail server the workers deliver to."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1025
    starttls: bool = False
    # The CA to trust for STARTTLS (a PEM file); none: the system's trust store.
    ca_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    # The password read from this file instead (compose and Kubernetes secrets are files).
    password_file: Path | None = None
    timeout_s: PositiveSeconds = 10.0
    # A worker keeps its connection for this many mails (1: a new connection per mail), and
    # replaces one idle longer than idle_s. Providers cap mails per connection (often 100).
    mails_per_connection: Annotated[int, Field(ge=1)] = 100
    idle_s: PositiveSeconds = 30.0

    @model_validator(mode="after")
    def _password_from_file(self) -> "SmtpSettings":
        if self.password_file is not None:
            if self.password is not None:
                raise ValueError("set SMTP_PASSWORD or SMTP_PASSWORD_FILE, not both")
            self.password = SecretStr(read_secret(self.password_file, "SMTP_PASSWORD_FILE"))
        return self

    def tls_context(self) -> ssl.SSLContext:
        """The context STARTTLS verifies the server with (its name and certificate chain)."""
        return ssl.create_default_context(cafile=self.ca_file)


class MailSettings(BaseSettings):
    """What the mails look like."""

    model_config = SettingsConfigDict(env_prefix="MAIL_", extra="ignore")

    sender: str = "northbridge@localhost"
    default_recipient: str = "ops@localhost"
    message_id_domain: str = "northbridge.local"
