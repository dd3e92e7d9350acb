"""Build and run the rq worker, made to heal within seconds rather than minutes.

rq, as it comes, re-runs the job of a worker that died only from its maintenance, every
10 minutes, once the job's started-registry entry (its timeout + 60 s) expired; its
scheduler, which moves retries back onto their queue, dies on the first lost connection
and is taken up again only by that maintenance; and a worker quits when Redis fails it
outside its dequeue (a read timeout, a job ending while Redis is away). Measured on rq 3.0:
a killed worker's job ran again after 629 s, a retry waited 591 s after a Redis restart.
So (the numbers are settings, see WorkerSettings):

* maintenance runs every ``WORKER_MAINTENANCE_INTERVAL_S`` and an idle worker turns every
  ``WORKER_TTL_S - 15`` s, so the abandoned-job clean-up and the scheduler come back within
  seconds: a killed worker's job runs again about 105 s after it started (110 s if that
  worker held the scheduler's lock, which lives 61 s), a retry 2 s after Redis returns;
* a job counts as abandoned ``WORKER_ABANDONED_AFTER_TIMEOUT_S`` after its timeout, not 60;
* a lost connection is retried every 5 s at most (rq's own backoff, capped lower), and a
  worker that quits anyway is replaced in this process once Redis answers (a job it held
  stays started and is re-run as abandoned; its send record keeps that to one mail).

* a job is taken off its queue by a move into an intermediate list, never a pop, so a
  worker killed right after it cannot lose the job (see dequeue.py);
* the scheduler lock of a worker that was killed is released after 10 s, not 61 s, so
  retries do not wait for it.

And, for speed (make bench): the worker's own heartbeat at most once a second, and no state
write that changes nothing.

Liveness is a file, as the bridge's (see :mod:`northbridge_shared.heartbeat`): rq's
heartbeat hook touches it whenever the loop turns, a job's start dates it forward by rq's
deadline for that job, and the wait for Redis beats it too.

The hooks (``get_heartbeat_ttl``, ``heartbeat``, ``set_state``, ``request_stop``,
``prepare_job_execution``, ``run_maintenance_tasks``, ``max_connection_wait_time``,
``dequeue_any``, the scheduler's lock key) are rq's internals, hence rq is pinned to 3.0.
"""

import time
from datetime import datetime
from types import FrameType
from typing import Any

import structlog
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer
from rq.utils import now
from rq.worker import BaseWorker

from northbridge_email_worker.dequeue import SafeQueue
from northbridge_email_worker.settings import WorkerSettings
from northbridge_shared.heartbeat import Heartbeat
from northbridge_shared.settings import RedisSettings

log = structlog.get_logger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
HEARTBEAT_EVERY_S = 1.0
RECONNECT_MAX_S = 5.0
# rq's scheduler lock lives 61 s, refreshed every second: under 51 s, none refreshed it for 10 s.
STALE_LOCK_TTL_S = 51
_RELEASE_STALE_LOCK = """
local ttl = redis.call('ttl', KEYS[1])
if ttl > 0 and ttl < tonumber(ARGV[1]) then return redis.call('del', KEYS[1]) end
return 0
"""


class HealingMixin:
    """What both worker kinds share: a reconnect cap, a remembered stop, safe dequeues.

    Jobs come off any number of queues the crash-safe way (see dequeue.py).
    """

    max_connection_wait_time = RECONNECT_MAX_S  # rq's backoff cap for a lost dequeue (60 s)
    asked_to_stop = False
    liveness: Heartbeat  # set by build_worker
    connection: Redis  # rq's, for the type checker
    queues: list[Queue]

    def run_maintenance_tasks(self) -> None:
        """Rq's maintenance, after releasing scheduler locks whose scheduler is gone.

        A scheduler refreshes its queues' locks to 61 s every second; a worker SIGKILLed with
        its scheduler leaves them for that long, and every retry waits (measured: a killed
        job's retry ran 64 s late). A lock not refreshed for 10 s has no scheduler: released
        here (compare and delete, in Redis), rq's maintenance below takes it.
        """
        for queue in self.queues:
            key = RQScheduler.get_locking_key(queue.name)
            if self.connection.eval(_RELEASE_STALE_LOCK, 1, key, STALE_LOCK_TTL_S):
                log.warning("scheduler_lock_released", queue=queue.name, reason="not refreshed")
        super().run_maintenance_tasks()  # type: ignore[misc]

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Register the job as started, and take it out of its intermediate list.

        rq does the second only for a worker of one queue; SafeQueue moved the job into that
        list from any queue, and a job left there would be failed by rq's maintenance.
        """
        del remove_from_intermediate_queue
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)  # type: ignore[misc]
        # No turn of the loop until the job ends: at rq's deadline for it at the latest.
        self.liveness.beat(ahead_s=self.get_heartbeat_ttl(job))  # type: ignore[attr-defined]

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """The worker's heartbeat, at most once a second when it renews only the default TTL.

        rq beats three times per job on its own (before and after dequeueing, after the job),
        three Redis commands and a round trip each; under load that was a tenth of a worker's
        time (make bench --profile). A beat renews a TTL of ``WORKER_TTL_S + 60`` s, so one a
        second loses nothing; beats with a TTL of their own (a job's) or in a pipeline pass.
        """
        self.liveness.beat()
        last: datetime | None = getattr(self, "last_heartbeat", None)
        renewal = timeout is None and pipeline is None
        if renewal and last is not None and (now() - last).total_seconds() < HEARTBEAT_EVERY_S:
            return
        super().heartbeat(timeout, pipeline)  # type: ignore[misc]

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """The worker's state, not written again when unchanged (rq sets IDLE twice per job)."""
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline)  # type: ignore[misc]

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: remember it (rq's own flag is set only when busy), then stop."""
        self.asked_to_stop = True
        super().request_stop(signum, frame)  # type: ignore[misc]


class HealingSimpleWorker(HealingMixin, SimpleWorker):
    """Jobs in the worker process; abandoned ``abandoned_after_timeout_s`` past the timeout."""

    abandoned_after_timeout_s = 30

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long after it started a job counts as abandoned (rq: its timeout + 60 s).

        A simple worker never extends it while the job runs, so it must outlast the
        timeout; the job is stopped at its timeout anyway.
        """
        if job.timeout and job.timeout > 0:
            return int(job.timeout) + self.abandoned_after_timeout_s
        return int(super().get_heartbeat_ttl(job, working_time))


class HealingForkWorker(HealingMixin, Worker):
    """A child process per job; rq extends the job's entry while the child runs."""


def build_worker(
    worker: WorkerSettings, redis: RedisSettings | Redis, liveness: Heartbeat | None = None
) -> BaseWorker:
    """A worker on the configured queues, JSON serializer, simple or forking.

    rq talks to Redis already here (it names its connection), so this raises when Redis
    is away.
    """
    connection = redis if isinstance(redis, Redis) else Redis.from_url(redis.url)
    queues = [
        SafeQueue(name, connection=connection, serializer=JSONSerializer) for name in worker.queues
    ]
    options: dict[str, Any] = {
        "queue_class": SafeQueue,
        "connection": connection,
        "serializer": JSONSerializer,
        "worker_ttl": worker.ttl_s,
        "maintenance_interval": worker.maintenance_interval_s,
    }
    built: HealingForkWorker | HealingSimpleWorker
    if worker.mode == "fork":
        built = HealingForkWorker(queues, **options)
    else:
        built = HealingSimpleWorker(queues, **options)
        built.abandoned_after_timeout_s = worker.abandoned_after_timeout_s
    built.liveness = liveness or Heartbeat(worker.heartbeat_file)
    return built


def work(worker: WorkerSettings, redis: RedisSettings, logging_level: str) -> None:
    """Run rq workers until SIGTERM: a new one whenever one could not start or quit for Redis."""
    connection = Redis.from_url(redis.url)
    liveness = Heartbeat(worker.heartbeat_file)
    liveness.clear()  # a file left by a killed worker is not this one's
    try:
        while True:
            current: BaseWorker | None = None
            try:
                current = build_worker(worker, connection, liveness)
                current.work(with_scheduler=True, logging_level=logging_level)
            except REDIS_DOWN as error:
                log.warning("worker_lost_redis", error=repr(error))
            if getattr(current, "asked_to_stop", False):
                return
            if not _wait_for_redis(connection, current, liveness):
                return
    finally:
        liveness.clear()  # stopped is not alive


def _wait_for_redis(connection: Redis, worker: BaseWorker | None, liveness: Heartbeat) -> bool:
    """Wait until Redis answers (True), or a stop is asked meanwhile (False); alive meanwhile."""
    delay = 1.0
    while not getattr(worker, "asked_to_stop", False):
        liveness.beat()
        try:
            connection.ping()
        except REDIS_DOWN as error:
            log.warning("redis_unreachable", error=repr(error), retry_in_s=delay)
            try:
                time.sleep(delay)  # nothing else to do: this process only works jobs
            except StopRequested:  # the signal handler of the worker that quit
                return False
            delay = min(delay * 2, RECONNECT_MAX_S)
        else:
            return True
    return False
