"""The bridge's settings (``BRIDGE_*``); what it shares with the others is in northbridge_shared."""

import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from northbridge_shared.contracts import BRIDGE_GROUP
from northbridge_shared.settings import PositiveSeconds, RouteSettings


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


class BridgeSettings(RouteSettings, BridgeHeartbeat):
    """The Kafka → RQ bridge."""

    group_id: str = BRIDGE_GROUP
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
