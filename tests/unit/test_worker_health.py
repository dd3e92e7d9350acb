"""The email-worker's liveness: rq's loop beats a file, a job dates it forward; the check reads it.

The rule is the bridge's (tests/unit/test_bridge_health.py covers the file itself); here, the
worker's side: a real rq worker built as the service builds it, on a real redis-server.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

from northbridge_email_worker import health
from northbridge_email_worker.dequeue import SafeQueue
from northbridge_email_worker.settings import WorkerHeartbeat, WorkerSettings
from northbridge_email_worker.worker import build_worker
from northbridge_shared.contracts import DELIVER_JOB
from northbridge_shared.settings import RedisSettings, load
from northbridge_stack.ports import free_port
from northbridge_stack.redis_server import RedisServer

MAX_AGE_S = WorkerHeartbeat().heartbeat_max_age_s


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), port=free_port())
    server.start()
    yield server.url
    server.stop()


@pytest.fixture
def beat_file(tmp_path: Path) -> Path:
    return tmp_path / "email-worker.alive"


@pytest.fixture
def worker(redis_url: str, beat_file: Path) -> Iterator[BaseWorker]:
    """An rq worker built as the service builds it, beating ``beat_file``."""
    Redis.from_url(redis_url).flushdb()
    settings = WorkerSettings(queues=["HealthQueue"], heartbeat_file=beat_file)
    built = build_worker(settings, RedisSettings(url=redis_url))
    yield built
    built.connection.close()


def problem(beat_file: Path, later_s: float = 0.0) -> str | None:
    settings = WorkerHeartbeat(heartbeat_file=beat_file)
    return health.problem(settings, now=time.time() + later_s)


def test_an_idle_worker_beats_as_its_loop_turns(worker: BaseWorker, beat_file: Path) -> None:
    assert problem(beat_file) == (
        f"email-worker heartbeat {beat_file} is missing: rq's loop has not turned (yet)"
    )
    worker.heartbeat()  # what rq calls on every turn of its loop
    assert beat_file.read_text() == f"{os.getpid()}\n"
    assert problem(beat_file, later_s=MAX_AGE_S - 1) is None
    reason = problem(beat_file, later_s=MAX_AGE_S + 5)
    assert reason is not None
    assert reason.endswith(f" s old (limit {MAX_AGE_S:g} s): rq's loop is stuck or gone")


def test_a_job_in_hand_dates_the_beat_forward_to_rqs_deadline(
    worker: BaseWorker, beat_file: Path
) -> None:
    """No turn until the job ends: healthy until its timeout + the margin, then stale."""
    queue = Queue("HealthQueue", connection=worker.connection, serializer=JSONSerializer)
    job = queue.enqueue(DELIVER_JOB, {}, job_timeout=600)
    worker.prepare_job_execution(job)
    deadline_s = 600 + WorkerSettings().abandoned_after_timeout_s
    assert problem(beat_file, later_s=deadline_s + MAX_AGE_S - 5) is None
    assert problem(beat_file, later_s=deadline_s + MAX_AGE_S + 5) is not None
    worker.heartbeat()  # the job ended: the next beat takes the date back at once
    assert problem(beat_file, later_s=MAX_AGE_S + 5) is not None


def test_a_killed_workers_fresh_file_is_unhealthy(beat_file: Path) -> None:
    ended = subprocess.Popen(["/bin/true"])
    ended.wait()
    beat_file.write_text(f"{ended.pid}\n")
    assert problem(beat_file) == (
        f"email-worker heartbeat {beat_file} is fresh, but its email-worker"
        f" (pid {ended.pid}) is gone"
    )


def test_idle_wait_must_stay_well_under_the_max_age(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKER_TTL_S", "60")  # an idle wait of 45 s against 60 s
    with pytest.raises(SystemExit):
        load(WorkerSettings)
    assert "invalid setting WORKER_TTL_S: " in capsys.readouterr().err
    monkeypatch.setenv("WORKER_HEARTBEAT_MAX_AGE_S", "120")
    assert load(WorkerSettings).ttl_s == 60


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The command as a compose healthcheck runs it."""
    return subprocess.run(
        [sys.executable, "-m", "northbridge_email_worker.health"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_command_exit_codes(worker: BaseWorker, beat_file: Path) -> None:
    """0 when fresh; 1 with one line when missing, and for a bad setting (2 is Docker's)."""
    env = {"WORKER_HEARTBEAT_FILE": str(beat_file)}
    missing = run_check(env)
    assert (missing.returncode, missing.stderr.count("\n")) == (1, 1)
    worker.heartbeat()
    assert run_check(env).returncode == 0
    invalid = run_check(env | {"WORKER_HEARTBEAT_MAX_AGE_S": "soon"})
    assert (invalid.returncode, invalid.stderr.count("\n")) == (1, 1)
    assert invalid.stderr.startswith("invalid setting WORKER_HEARTBEAT_MAX_AGE_S: ")


def test_the_check_needs_no_redis(beat_file: Path) -> None:
    """A worker waiting for Redis is alive; the check reads the file only."""
    beat_file.write_text(f"{os.getpid()}\n")
    env = {"WORKER_HEARTBEAT_FILE": str(beat_file), "REDIS_URL": f"redis://127.0.0.1:{free_port()}"}
    assert run_check(env).returncode == 0


def test_workers_take_jobs_by_moving_them(worker: BaseWorker) -> None:
    """The built worker dequeues through SafeQueue: moves into intermediate lists, no pops."""
    assert worker.queue_class is SafeQueue
    assert all(isinstance(queue, SafeQueue) for queue in worker.queues)
