"""``python -m northbridge_email_worker.health``: exit 0 if an rq worker of this host is alive.

For a container health check (``["CMD", "python", "-m", "northbridge_email_worker.health"]``)
and for a local process alike. Each rq worker keeps a hash in Redis with its ``hostname``
(``socket.gethostname()`` of its process: in compose, its container), ``pid``, ``state`` and
``last_heartbeat``; rq expires the hash when the next heartbeat is overdue by 60 s, and marks
it ``death`` when the worker stops. Healthy means one worker of this host:

* has not stopped, and its pid runs here (a killed worker's hash outlives it);
* and is busy (a job in hand: rq then lets the hash live until the job's timeout + 60 s,
  its own deadline for that job) or wrote its heartbeat at most ``WORKER_TTL_S`` ago (an
  idle worker writes one every ``WORKER_TTL_S - 15`` s; see WorkerHeartbeat).

Otherwise, or when Redis does not answer within about 2 s, it prints one line to stderr and
exits 1. The hashes are read directly, with only REDIS_URL: their fields are plain strings
(the jobs' serializer plays no part), and building rq ``Worker`` objects (``Worker.all``)
would raise the connection's socket timeout to minutes.
"""

import argparse
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from pydantic_settings import BaseSettings
from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import worker_registration
from rq.utils import now, utcparse
from rq.worker import BaseWorker

from northbridge_email_worker.settings import WorkerHeartbeat, WorkerSettings
from northbridge_shared.health import process_running, run_check
from northbridge_shared.settings import RedisSettings

# The default bound on an idle worker's heartbeat age: its WORKER_TTL_S (heartbeats come
# WORKER_TTL_S - 15 s apart; the other 15 s are rq's room for the round trip).
MAX_IDLE_HEARTBEAT_AGE_S = WorkerHeartbeat().ttl_s


class HeartbeatSettings(BaseSettings, WorkerHeartbeat):
    """Only WORKER_TTL_S."""

    model_config = WorkerSettings.model_config


# Per connect and per reply, with no retry: a health check answers in about 2 s at worst.
REDIS_TIMEOUT_S = 1.0

_FIELDS = ("hostname", "pid", "state", "last_heartbeat", "death")


@dataclass(frozen=True)
class WorkerRecord:
    """What rq keeps in Redis about one worker."""

    name: str
    hostname: str | None
    pid: int | None
    state: str | None
    last_heartbeat: datetime | None
    stopped: bool


def connect(url: str) -> Redis:
    """A client that fails fast: short timeouts, no retries."""
    return Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


def registered_workers(connection: Redis) -> list[WorkerRecord]:
    """Every worker in rq's registry whose hash has not expired yet."""
    keys = sorted(worker_registration.get_keys(connection=connection))
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, _FIELDS)
        rows: list[list[str | None]] = pipe.execute()
    return [
        _record(key, dict(zip(_FIELDS, row, strict=True)))
        for key, row in zip(keys, rows, strict=True)
        if any(value is not None for value in row)  # an expired hash reads as all None
    ]


def _record(key: str, fields: dict[str, str | None]) -> WorkerRecord:
    pid, last_heartbeat = fields["pid"], fields["last_heartbeat"]
    return WorkerRecord(
        name=key.removeprefix(BaseWorker.redis_worker_namespace_prefix),
        hostname=fields["hostname"],
        pid=int(pid) if pid else None,
        state=fields["state"],
        last_heartbeat=utcparse(last_heartbeat) if last_heartbeat else None,
        stopped=fields["death"] is not None,
    )


def why_not_alive(
    worker: WorkerRecord, at: datetime, max_idle_s: float = MAX_IDLE_HEARTBEAT_AGE_S
) -> str | None:
    """Why this worker does not count as alive, or None if it does."""
    if worker.stopped:
        return f"worker {worker.name} has stopped"
    if worker.pid is None or not process_running(worker.pid):
        return f"worker {worker.name}'s pid {worker.pid} is not running here"
    if worker.state == "busy":
        return None
    if worker.last_heartbeat is None:
        return f"worker {worker.name} has no heartbeat"
    age = (at - worker.last_heartbeat).total_seconds()
    if age > max_idle_s:
        return (
            f"worker {worker.name} ({worker.state}) last beat {age:.0f} s ago"
            f" (limit {max_idle_s:g} s)"
        )
    return None


def problem(
    connection: Redis,
    hostname: str,
    at: datetime | None = None,
    pid: int | None = None,
    max_idle_s: float = MAX_IDLE_HEARTBEAT_AGE_S,
) -> str | None:
    """Why no rq worker of ``hostname`` (with ``pid``, if given) is alive, or None if one is."""
    try:
        workers = registered_workers(connection)
    except (RedisError, OSError) as error:
        return f"cannot read rq's workers from Redis: {type(error).__name__}: {error}"
    ours = [w for w in workers if w.hostname == hostname and pid in (None, w.pid)]
    if not ours:
        which = "" if pid is None else f" with pid {pid}"
        return f"no rq worker of host {hostname}{which} is registered in Redis"
    reasons = [why_not_alive(w, at or now(), max_idle_s) for w in ours]
    if None in reasons:
        return None
    return f"no live rq worker of host {hostname}: " + "; ".join(filter(None, reasons))


def problem_here(
    settings: RedisSettings, heartbeat: WorkerHeartbeat, pid: int | None = None
) -> str | None:
    """Why no rq worker of this host (with ``pid``) is alive, asking the Redis of ``settings``."""
    try:
        connection = connect(settings.url)
    except ValueError as error:
        return f"invalid REDIS_URL: {error}"
    try:
        return problem(connection, socket.gethostname(), pid=pid, max_idle_s=heartbeat.ttl_s)
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    """Exit 0 if healthy, else 1 with the reason on stderr.

    ``--pid PID`` asks about one worker process: the local stack runs several on one host.
    """
    parser = argparse.ArgumentParser(prog="python -m northbridge_email_worker.health")
    parser.add_argument("--pid", type=int, help="only the worker with this process id")
    pid = parser.parse_args(argv).pid
    run_check(partial(problem_here, pid=pid), RedisSettings, HeartbeatSettings)


if __name__ == "__main__":
    main()
