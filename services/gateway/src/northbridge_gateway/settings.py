"""The gateway's own settings, ``GATEWAY_*`` (the ones it shares: northbridge_shared.settings)."""

import os
from typing import Annotated, Literal

from limits import parse
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from northbridge_shared.settings import PositiveSeconds


class GatewaySettings(BaseSettings):
    """The HTTP gateway."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "0.0.0.0"  # noqa: S104 - a service in a container must listen beyond loopback
    port: Annotated[int, Field(ge=1, le=65535)] = 9000
    workers: Annotated[int, Field(ge=1)] = Field(default_factory=lambda: os.cpu_count() or 1)
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    # A JSON array of events in one POST (bulk.py): at most this many, and this many bytes.
    bulk_max_events: Annotated[int, Field(ge=1, le=10_000)] = 500
    bulk_max_body_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
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
    # "api-key": every /v1/ request needs Authorization: Bearer <key> (northbridge keys create).
    auth: Literal["off", "api-key"] = "off"
    # How long a worker process remembers a key's look-up: a revoked key works this long.
    auth_cache_s: Annotated[float, Field(ge=0)] = 5.0
    # Shared by every process and replica (in Redis), in the limits library's notation:
    # "600/minute", "10/second", "1000/hour"; empty: no limit. See rate_limits.py.
    rate_limit_per_client: str = ""
    rate_limit_per_recipient: str = ""

    @field_validator("rate_limit_per_client", "rate_limit_per_recipient")
    @classmethod
    def _a_rate(cls, value: str) -> str:
        if value:
            try:
                parse(value)
            except ValueError:
                raise ValueError("must read like 600/minute, 10/second or 1000/hour") from None
        return value
