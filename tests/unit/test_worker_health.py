"""The email-worker's health check, against a real redis-server and real rq worker records."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from redis import Redis
from rq.utils import now
from rq.worker import BaseWorker

from northbridge_email_worker import health
from northbridge_email_worker.dequeue import SafeQueue
from northbridge_email_worker.settings import WorkerSettings
from northbridge_email_worker.worker import build_worker
from northbridge_shared.settings import RedisSettings
from northbridge_stack.ports import free_port
from northbridge_stack.redis_server import RedisServer

HOST = socket.gethostname()
BOUND = timedelta(seconds=health.MAX_IDLE_HEARTBEAT_AGE_S)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    connection = health.connect(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


@pytest.fixture
def worker(redis_url: str, redis: Redis) -> BaseWorker:
    """An rq worker built as the service builds it, registered from this process."""
    built = build_worker(WorkerSettings(queues=["HealthQueue"]), RedisSettings(url=redis_url))
    built.register_birth()  # type: ignore[no-untyped-call]
    return built


def test_a_registered_worker_of_this_host_is_healthy(worker: BaseWorker, redis: Redis) -> None:
    assert health.problem(redis, HOST) is None
    assert health.problem(redis, HOST, at=now() + BOUND - timedelta(seconds=1)) is None


def test_empty_redis_is_unhealthy(redis: Redis) -> None:
    assert health.problem(redis, HOST) == f"no rq worker of host {HOST} is registered in Redis"


def test_workers_of_other_hosts_do_not_count(worker: BaseWorker, redis: Redis) -> None:
    """In compose every container has its own hostname: a sibling's worker is not ours."""
    assert health.problem(redis, "elsewhere") == (
        "no rq worker of host elsewhere is registered in Redis"
    )


def test_idle_worker_with_an_old_heartbeat_is_unhealthy(worker: BaseWorker, redis: Redis) -> None:
    reason = health.problem(redis, HOST, at=now() + BOUND + timedelta(seconds=5))
    assert reason is not None
    assert reason.startswith(f"no live rq worker of host {HOST}: worker {worker.name} ")
    assert reason.endswith(f" s ago (limit {health.MAX_IDLE_HEARTBEAT_AGE_S} s)")


def test_busy_worker_lives_by_rqs_own_deadline(worker: BaseWorker, redis: Redis) -> None:
    """A job in hand: no heartbeat until it ends; rq expires the hash if it overruns."""
    worker.set_state("busy")
    assert health.problem(redis, HOST, at=now() + 3 * BOUND) is None
    redis.delete(worker.key)  # what rq's expiry does at the job's timeout + 60 s
    assert health.problem(redis, HOST) == f"no rq worker of host {HOST} is registered in Redis"


def test_stopped_worker_is_unhealthy(worker: BaseWorker, redis: Redis) -> None:
    worker.register_death()  # type: ignore[no-untyped-call]
    redis.sadd(worker.redis_workers_keys, worker.key)  # still listed: only its hash tells
    assert health.problem(redis, HOST) == (
        f"no live rq worker of host {HOST}: worker {worker.name} has stopped"
    )


def test_killed_workers_leftover_is_unhealthy(worker: BaseWorker, redis: Redis) -> None:
    """A SIGKILLed worker leaves a fresh-looking hash; its pid no longer runs."""
    ended = subprocess.Popen(["/bin/true"])
    ended.wait()
    redis.hset(worker.key, "pid", str(ended.pid))
    assert health.problem(redis, HOST) == (
        f"no live rq worker of host {HOST}: worker {worker.name}'s pid {ended.pid}"
        " is not running here"
    )


def test_one_live_worker_is_enough(worker: BaseWorker, redis: Redis, redis_url: str) -> None:
    """Locally several workers share the host; one stopped one does not make it unhealthy."""
    other = build_worker(WorkerSettings(queues=["HealthQueue"]), RedisSettings(url=redis_url))
    other.register_birth()  # type: ignore[no-untyped-call]
    other.register_death()  # type: ignore[no-untyped-call]
    assert health.problem(redis, HOST) is None


def test_unreachable_redis_is_unhealthy() -> None:
    connection = health.connect(f"redis://127.0.0.1:{free_port()}/0")
    reason = health.problem(connection, HOST)
    assert reason is not None
    assert reason.startswith("cannot read rq's workers from Redis: ConnectionError: ")


def run_check(url: str) -> subprocess.CompletedProcess[str]:
    """The command as a compose healthcheck runs it."""
    return subprocess.run(
        [sys.executable, "-m", "northbridge_email_worker.health"],
        env={"REDIS_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_command_exit_codes(worker: BaseWorker, redis: Redis, redis_url: str) -> None:
    assert run_check(redis_url).returncode == 0
    redis.flushdb()
    failed = run_check(redis_url)
    assert (failed.returncode, failed.stderr.count("\n")) == (1, 1)
    assert failed.stderr.startswith("no rq worker of host ")
    invalid = run_check("not a url")
    assert (invalid.returncode, invalid.stderr.count("\n")) == (1, 1)  # not 2: Docker's
    assert invalid.stderr.startswith("invalid REDIS_URL: ")


def test_workers_take_jobs_by_moving_them(worker: BaseWorker) -> None:
    """The built worker dequeues through SafeQueue: moves into intermediate lists, no pops."""
    assert worker.queue_class is SafeQueue
    assert all(isinstance(queue, SafeQueue) for queue in worker.queues)
