"""``python -m northbridge_bridge.health``: exit 0 if the bridge's consume loop is turning.

For a container health check (``["CMD", "python", "-m", "northbridge_bridge.health"]``) and
for a local process alike: it reads the heartbeat file the loop touches (see
:class:`~northbridge_bridge.settings.BridgeHeartbeat` for what "healthy" means and why the
bound) and needs neither Kafka nor Redis. Otherwise it prints one line to stderr and exits 1.
"""

import time
from pathlib import Path

from pydantic_settings import BaseSettings

from northbridge_bridge.settings import BridgeHeartbeat, BridgeSettings
from northbridge_shared.health import process_running, run_check


class HeartbeatSettings(BaseSettings, BridgeHeartbeat):
    """Only BRIDGE_HEARTBEAT_FILE and BRIDGE_HEARTBEAT_MAX_AGE_S."""

    model_config = BridgeSettings.model_config


def problem(settings: BridgeHeartbeat, now: float | None = None) -> str | None:
    """Why the bridge is not alive, or None if its heartbeat is fresh."""
    path = settings.heartbeat_file
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return f"bridge heartbeat {path} is missing: the consume loop has not turned (yet)"
    except OSError as error:
        return f"bridge heartbeat {path} cannot be read: {error}"
    age = (time.time() if now is None else now) - touched
    if age > settings.heartbeat_max_age_s:
        return (
            f"bridge heartbeat {path} is {age:.0f} s old"
            f" (limit {settings.heartbeat_max_age_s:g} s): the consume loop is stuck or gone"
        )
    pid = _pid(path)
    if pid is not None and not process_running(pid):
        return f"bridge heartbeat {path} is fresh, but its bridge (pid {pid}) is gone"
    return None


def _pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # an empty file: touched by an older bridge


def main() -> None:
    """Exit 0 if healthy, else 1 with the reason on stderr."""
    run_check(problem, HeartbeatSettings)


if __name__ == "__main__":
    main()
