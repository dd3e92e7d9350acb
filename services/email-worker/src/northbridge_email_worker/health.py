"""``python -m northbridge_email_worker.health``: exit 0 if this worker's rq loop is turning.

For a container health check (``["CMD", "python", "-m", "northbridge_email_worker.health"]``)
and for a local process alike: it reads the heartbeat file the worker touches (see
:mod:`northbridge_shared.heartbeat`, and
:class:`~northbridge_email_worker.settings.WorkerHeartbeat` for the bound), the same rule as
the bridge's, and needs no Redis. Otherwise it prints one line to stderr and exits 1.
"""

from pydantic_settings import BaseSettings

from northbridge_email_worker.settings import WorkerHeartbeat, WorkerSettings
from northbridge_shared import heartbeat
from northbridge_shared.health import run_check


class HeartbeatSettings(BaseSettings, WorkerHeartbeat):
    """Only WORKER_HEARTBEAT_FILE and WORKER_HEARTBEAT_MAX_AGE_S."""

    model_config = WorkerSettings.model_config


def problem(settings: WorkerHeartbeat, now: float | None = None) -> str | None:
    """Why the worker is not alive, or None if its heartbeat is fresh."""
    path, max_age_s = settings.heartbeat_file, settings.heartbeat_max_age_s
    return heartbeat.problem(path, max_age_s, "email-worker", "rq's loop", now)


def main() -> None:
    """Exit 0 if healthy, else 1 with the reason on stderr."""
    run_check(problem, HeartbeatSettings)


if __name__ == "__main__":
    main()
