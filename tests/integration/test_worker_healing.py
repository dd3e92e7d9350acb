"""Workers heal by themselves: a killed worker's job runs again soon, Redis can come and go."""

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Retry, Worker
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from northbridge_email_worker.dequeue import SafeQueue
from northbridge_shared.contracts import DELIVER_JOB
from northbridge_stack import services
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.mailpit import Mailpit
from northbridge_stack.ports import LOOPBACK, free_port
from northbridge_stack.processes import ManagedProcess
from northbridge_stack.redis_server import RedisServer

from .conftest import Pipeline, spawn
from .support import mails_with_id, wait_for, wait_for_mail
from .test_worker import payload

# Quick rhythms for these workers: an idle loop every 5 s, maintenance every 2 s, a job
# abandoned 5 s past its timeout.
QUICK = {
    "WORKER_TTL_S": "20",
    "WORKER_MAINTENANCE_INTERVAL_S": "2",
    "WORKER_ABANDONED_AFTER_TIMEOUT_S": "5",
    "WORKER_SEND_LEASE_S": "12",  # above the jobs' 10 s timeout
}
JOB_TIMEOUT_S = 10


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections (the kernel does) and never says a word: SMTP hangs."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def started(job: Job) -> bool:
    return job.get_status(refresh=True) == JobStatus.STARTED


def registered(redis: Redis, process: ManagedProcess) -> bool:
    """An rq worker with this process's pid is registered (it runs again)."""
    return any(w.pid == process.pid for w in Worker.all(connection=redis))


def test_a_killed_workers_job_runs_again_soon(pipeline: Pipeline, black_hole: int) -> None:
    """SIGKILL mid-job: another worker runs the job once its timeout + grace have passed."""
    queue_name = f"Abandoned-{uuid.uuid4().hex[:6]}"
    env = pipeline.env | QUICK | {"WORKER_QUEUES": f'["{queue_name}"]'}
    hung = env | {"SMTP_PORT": str(black_hole), "SMTP_TIMEOUT_S": "60"}
    victim = spawn(services.worker(91), pipeline.home, hung, name="victim")
    try:
        wait_for(lambda: registered(pipeline.redis, victim), timeout=60, what="the victim")
        queue = Queue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
        event_id = f"abandoned-{uuid.uuid4()}"
        job = queue.enqueue(
            DELIVER_JOB,
            payload(event_id),
            job_id=event_id,
            job_timeout=JOB_TIMEOUT_S,
            retry=Retry(max=2),
        )
        wait_for(lambda: started(job), timeout=30, what="the victim to start the job")
        os.killpg(victim.pid or 0, signal.SIGKILL)  # as a container's death: all of it
    finally:
        victim.stop()
    rescuer = spawn(services.worker(92), pipeline.home, env, name="rescuer")
    try:
        # Due 15 s after the job started, then maintenance and the idle loop: about 22 s.
        # rq alone: a 10-minute maintenance interval.
        wait_for_mail(pipeline.mail, event_id, timeout=60)
        assert len(mails_with_id(pipeline.mail, event_id)) == 1
    finally:
        rescuer.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own, to stop and start."""
    with RedisServer(tmp_path / "redis", port=free_port()) as server:
        yield server


def test_a_retry_runs_soon_after_redis_restarts(
    pipeline: Pipeline, own_redis: RedisServer, tmp_path: Path
) -> None:
    """The scheduler that moves retries comes back seconds after Redis does."""
    smtp_port = free_port()  # nothing listens yet: the first attempt fails
    env = pipeline.env | QUICK | {"REDIS_URL": own_redis.url, "SMTP_PORT": str(smtp_port)}
    worker = spawn(services.worker(93), tmp_path, env)
    redis = Redis.from_url(own_redis.url)
    try:
        wait_for(lambda: registered(redis, worker), timeout=60, what="the worker")
        queue = Queue("EmailQueue", connection=redis, serializer=JSONSerializer)
        event_id = f"retried-{uuid.uuid4()}"
        job = queue.enqueue(DELIVER_JOB, payload(event_id), retry=Retry(max=3, interval=8))
        wait_for(
            lambda: job.get_status(refresh=True) == JobStatus.SCHEDULED,
            timeout=30,
            what="the first attempt to fail and schedule a retry",
        )
        own_redis.stop()
        wait_for(
            lambda: "Scheduler [PID" in worker.log_since_spawn(),  # rq: "... raised an exception"
            timeout=30,
            what="rq's scheduler to lose its connection and end",
        )
        own_redis.start()
        with Mailpit(tmp_path / "mailpit", smtp_port, free_port()) as mailpit:
            # Due 8 s after the failure; rq alone waits for its 10-minute maintenance.
            wait_for_mail(Mailbox(mailpit.url), event_id, timeout=40)
        assert worker.running
    finally:
        redis.close()
        worker.stop()


def test_a_worker_outlives_redis_going_away_mid_job(
    pipeline: Pipeline, own_redis: RedisServer, black_hole: int, tmp_path: Path
) -> None:
    """The job ends while Redis is away: the worker waits for Redis instead of exiting."""
    env = pipeline.env | QUICK | {"REDIS_URL": own_redis.url}
    hung = env | {"SMTP_PORT": str(black_hole), "SMTP_TIMEOUT_S": "4"}
    worker = spawn(services.worker(94), tmp_path, hung)
    redis = Redis.from_url(own_redis.url)
    try:
        wait_for(lambda: registered(redis, worker), timeout=60, what="the worker")
        queue = Queue("EmailQueue", connection=redis, serializer=JSONSerializer)
        job = queue.enqueue(DELIVER_JOB, payload(f"outage-{uuid.uuid4()}"))
        wait_for(lambda: started(job), timeout=30, what="the job to start")
        own_redis.stop()  # the SMTP attempt fails 4 s later, with no Redis to record it
        wait_for(
            lambda: "redis_unreachable" in worker.log_since_spawn(),
            timeout=30,
            what="the worker to wait for Redis",
        )
        assert worker.running
        own_redis.start()
        wait_for(lambda: registered(redis, worker), timeout=30, what="the worker back")
        assert health(tmp_path, worker).returncode == 0
    finally:
        redis.close()
        worker.stop()


def test_a_worker_started_before_redis_waits_for_it(pipeline: Pipeline, tmp_path: Path) -> None:
    """No Redis yet: the worker says so and waits, then works once Redis answers."""
    late = RedisServer(tmp_path / "redis", port=free_port())
    worker = spawn(services.worker(95), tmp_path, pipeline.env | {"REDIS_URL": late.url})
    try:
        wait_for(
            lambda: "redis_unreachable" in worker.log_since_spawn(),
            timeout=30,
            what="the worker to report Redis unreachable",
        )
        assert worker.running
        with late:
            redis = Redis.from_url(late.url)
            wait_for(lambda: registered(redis, worker), timeout=30, what="the worker")
            redis.close()
    finally:
        worker.stop()


def health(home: Path, worker: ManagedProcess) -> subprocess.CompletedProcess[str]:
    """The worker's own health command, reading this process's heartbeat (see spawn)."""
    alive = home / f"{worker.name}.alive"
    return subprocess.run(
        [sys.executable, "-m", "northbridge_email_worker.health"],
        env=os.environ | {"WORKER_HEARTBEAT_FILE": str(alive)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_job_is_moved_off_its_queue_never_popped(pipeline: Pipeline) -> None:
    """Taken from the second of two queues, the job sits in that queue's intermediate list."""
    first, second = (f"Move{n}-{uuid.uuid4().hex[:6]}" for n in (1, 2))
    queues = [
        SafeQueue(n, connection=pipeline.redis, serializer=JSONSerializer) for n in (first, second)
    ]
    job = queues[1].enqueue(DELIVER_JOB, payload(f"moved-{uuid.uuid4()}"))
    taken = SafeQueue.dequeue_any(queues, timeout=5, connection=pipeline.redis)
    assert taken is not None
    assert taken[0].id == job.id
    assert queues[1].intermediate_queue.get_job_ids() == [
        job.id
    ]  # a worker killed now loses nothing


def test_a_job_its_worker_took_but_never_started_runs_again(pipeline: Pipeline) -> None:
    """A worker killed between taking a job and starting it: the job runs again.

    And jobs that ran leave nothing behind in the intermediate lists (a worker of two queues).
    """
    names = [f"Taken{n}-{uuid.uuid4().hex[:6]}" for n in (1, 2)]
    queues = [SafeQueue(n, connection=pipeline.redis, serializer=JSONSerializer) for n in names]
    first, second = queues
    stuck, normal = (f"{kind}-{uuid.uuid4()}" for kind in ("stuck", "normal"))
    second.enqueue(DELIVER_JOB, payload(stuck), job_id=stuck, retry=Retry(max=2))
    # What a worker killed right after its move leaves behind: the job in the intermediate list.
    assert SafeQueue.dequeue_any([second], timeout=None, connection=pipeline.redis) is not None
    env = pipeline.env | QUICK | {"WORKER_QUEUES": json.dumps(names)}
    worker = spawn(services.worker(96), pipeline.home, env, name="after-the-move")
    try:
        first.enqueue(DELIVER_JOB, payload(normal), job_id=normal)
        wait_for_mail(pipeline.mail, normal, timeout=30)
        # rq fails a job left there for a minute (its fixed bound) into its retries.
        wait_for_mail(pipeline.mail, stuck, timeout=100)
        wait_for(
            lambda: (
                not (
                    first.intermediate_queue.get_job_ids()
                    or second.intermediate_queue.get_job_ids()
                )
            ),
            timeout=10,
            what="the intermediate lists to empty",
        )
    finally:
        worker.stop()


def test_a_dead_schedulers_lock_does_not_hold_retries(pipeline: Pipeline) -> None:
    """A lock left by a killed worker's scheduler is taken over in seconds, not its 61 s."""
    queue_name = f"Locked-{uuid.uuid4().hex[:6]}"
    # What a scheduler SIGKILLed 20 s ago leaves: its lock, no longer refreshed.
    pipeline.redis.set(RQScheduler.get_locking_key(queue_name), "a-dead-worker", ex=41)
    queue = Queue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
    event_id = f"scheduled-{uuid.uuid4()}"
    queue.enqueue_in(timedelta(seconds=1), DELIVER_JOB, payload(event_id), job_id=event_id)
    env = pipeline.env | QUICK | {"WORKER_QUEUES": f'["{queue_name}"]'}
    worker = spawn(services.worker(97), pipeline.home, env, name="lock-taker")
    try:
        # rq alone: only once the lock expires, 41 s from now.
        wait_for_mail(pipeline.mail, event_id, timeout=25)
        assert "scheduler_lock_released" in worker.log_since_spawn()
    finally:
        worker.stop()
