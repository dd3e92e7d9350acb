"""Every setting of every service, read once from the environment.

One model per concern; a service loads only the models it needs through :func:`load`,
which turns a bad value into one readable line and a non-zero exit instead of a traceback.
"""

import os
import sys
from typing import Annotated, Literal, TypeVar

from pydantic import BeforeValidator, Field, NonNegativeInt, SecretStr, ValidationError
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


class BridgeSettings(BaseSettings):
    """The Kafka → RQ bridge."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    group_id: str = BRIDGE_GROUP
    routes: dict[str, Route] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    poll_timeout_ms: Annotated[int, Field(ge=10)] = 1000
    retry_backoff_max_s: PositiveSeconds = 30.0


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


class WorkerSettings(BaseSettings):
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


class SmtpSettings(BaseSettings):
    """The mail server the workers deliver to."""

    model_config = SettingsConfigDict(env_prefix="SMTP_", extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 1025
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: PositiveSeconds = 10.0


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
