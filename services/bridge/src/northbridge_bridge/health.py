"""``python -m northbridge_bridge.health``: exit 0 if the bridge's consume loop is turning.

For a container health check (``["CMD", "python", "-m", "northbridge_bridge.health"]``) and
for a local process alike: it reads the heartbeat file the loop touches (see
:mod:`northbridge_shared.heartbeat`, and :class:`~northbridge_bridge.settings.BridgeHeartbeat`
for the bound) and needs neither Kafka nor Redis. Otherwise it prints one line to stderr
and exits 1.
"""

from pydantic_settings import BaseSettings

from northbridge_bridge.settings import BridgeHeartbeat, BridgeSettings
from northbridge_shared import heartbeat
from northbridge_shared.health import run_check


class HeartbeatSettings(BaseSettings, BridgeHeartbeat):
    """Only BRIDGE_HEARTBEAT_FILE and BRIDGE_HEARTBEAT_MAX_AGE_S."""

    model_config = BridgeSettings.model_config


def problem(settings: BridgeHeartbeat, now: float | None = None) -> str | None:
    """Why the bridge is not alive, or None if its heartbeat is fresh."""
    path, max_age_s = settings.heartbeat_file, settings.heartbeat_max_age_s
    return heartbeat.problem(path, max_age_s, "bridge", "the consume loop", now)


def main() -> None:
    """Exit 0 if healthy, else 1 with the reason on stderr."""
    run_check(problem, HeartbeatSettings)


if __name__ == "__main__":
    main()
