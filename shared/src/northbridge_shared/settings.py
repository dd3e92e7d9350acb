"""The settings every service shares, read once from the environment, and :func:`load`.

Each service owns its own settings module (``northbridge_gateway.settings``, ...); this one
keeps what more than one of them reads: how to reach Kafka and Redis, logging, where
metrics are served, the options of every job and receipt, and which topics and queues the
pipeline has (the bridge's routes and the workers' queues, which the operator's commands
read too). :func:`load` turns a bad value into one readable line and a non-zero exit
instead of a traceback.
"""

import ssl
import sys
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from northbridge_shared.contracts import EMAIL_QUEUE, NOTIFICATION_QUEUE
from northbridge_shared.jobs import DEFAULT_ROUTES, Route

PositiveSeconds = Annotated[float, Field(gt=0)]


def read_secret(path: Path, variable: str) -> str:
    """A secret from a file, as compose and Kubernetes mount them (one trailing newline cut)."""
    try:
        return path.read_text().rstrip("\r\n")
    except OSError as error:
        raise ValueError(f"{variable} cannot be read: {error}") from None


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


# Case-insensitive: LOG_LEVEL=debug is common in shells and must not stop a service.
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class KafkaSettings(BaseSettings):
    """How to reach Kafka, and how to prove who we are (aiokafka's names for each option)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretStr | None = None
    # The password read from this file instead (compose and Kubernetes secrets are files).
    sasl_plain_password_file: Path | None = None
    # The CA to trust for SSL and SASL_SSL (a PEM file); none: the system's trust store.
    ssl_cafile: Path | None = None

    @model_validator(mode="after")
    def _password_from_file(self) -> "KafkaSettings":
        if self.sasl_plain_password_file is not None:
            text = read_secret(self.sasl_plain_password_file, "KAFKA_SASL_PLAIN_PASSWORD_FILE")
            self.sasl_plain_password = SecretStr(text)
        lacking = self.sasl_plain_username is None or self.sasl_plain_password is None
        if self.security_protocol.startswith("SASL") and lacking:
            raise ValueError(
                f"{self.security_protocol} needs KAFKA_SASL_PLAIN_USERNAME and"
                " KAFKA_SASL_PLAIN_PASSWORD (or KAFKA_SASL_PLAIN_PASSWORD_FILE)"
            )
        return self

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka producer, consumer and admin client takes."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = ssl.create_default_context(
                cafile=None if self.ssl_cafile is None else str(self.ssl_cafile)
            )
        if self.security_protocol.startswith("SASL"):
            password = self.sasl_plain_password
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_plain_username,
                "sasl_plain_password": None if password is None else password.get_secret_value(),
            }
        return options


class RedisSettings(BaseSettings):
    """How to reach Redis (RQ's queues and the send records)."""

    model_config = SettingsConfigDict(env_prefix="REDIS_", extra="ignore")

    # rediss://host:port/db for TLS; ?ssl_ca_certs=/path/ca.pem to trust a private CA.
    url: str = "redis://127.0.0.1:6379/0"
    # The password read from this file and put into the URL (compose and Kubernetes secrets
    # are files), instead of writing it into REDIS_URL.
    password_file: Path | None = None

    @model_validator(mode="after")
    def _password_from_file(self) -> "RedisSettings":
        if self.password_file is not None:
            password = read_secret(self.password_file, "REDIS_PASSWORD_FILE")
            parts = urlsplit(self.url)
            user = quote(parts.username or "", safe="")  # an ACL user, if the URL names one
            host = parts.hostname or ""
            where = f"{user}:{quote(password, safe='')}@{f'[{host}]' if ':' in host else host}"
            if parts.port is not None:
                where += f":{parts.port}"
            self.url = urlunsplit(parts._replace(netloc=where))
        return self


class LogSettings(BaseSettings):
    """Log level and rendering shared by every service."""

    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    level: LogLevel = "INFO"
    format: Literal["json", "console"] = "json"


class MetricsSettings(BaseSettings):
    """Where the bridge and the workers serve ``/metrics`` (the gateway: on its own port)."""

    model_config = SettingsConfigDict(env_prefix="METRICS_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - scraped from outside the container


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


class RouteSettings(BaseSettings):
    """Which topic's events become which job: the bridge's, read by the operator's commands too."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    routes: dict[str, Route] = Field(default_factory=lambda: dict(DEFAULT_ROUTES))


class QueueSettings(BaseSettings):
    """The queues the workers drain: the workers', read by the operator's commands too."""

    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore")

    queues: list[str] = Field(default_factory=lambda: [NOTIFICATION_QUEUE, EMAIL_QUEUE])


S = TypeVar("S", bound=BaseSettings)


def load(model: type[S]) -> S:
    """Read ``model`` from the environment, or exit with one line per bad setting."""
    try:
        return model()
    except ValidationError as error:
        prefix = str(model.model_config.get("env_prefix", ""))
        for problem in error.errors():
            if not problem["loc"]:  # a rule over several settings: its message names them
                print(f"invalid settings {prefix}*: {problem['msg']}", file=sys.stderr)
                continue
            field, *inside = problem["loc"]
            name = (prefix + str(field)).upper() + "".join(f"[{part}]" for part in inside)
            print(f"invalid setting {name}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None
