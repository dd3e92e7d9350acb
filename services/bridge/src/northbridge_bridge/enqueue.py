"""Accepted events become RQ jobs, a batch at a time, at most one job per event id.

rq's own ``unique=True`` is atomic but costs one round trip per job (it ignores
pipelines), so a batch is checked with one pipelined ``EXISTS`` and enqueued with one
MULTI/EXEC. The check and the write are not one atomic step; that is safe because a
partition has one consumer at a time in the group, and the worker's send record
stops a second mail if two bridges ever raced on a record.
"""

from dataclasses import dataclass

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.queue import EnqueueData
from rq.serializers import JSONSerializer

from northbridge_bridge.records import Accepted
from northbridge_shared.contracts import DELIVER_JOB
from northbridge_shared.settings import JobSettings


@dataclass(frozen=True)
class Enqueued:
    """What one batch did: jobs created, and events that already had one."""

    created: int
    duplicates: int


class Enqueuer:
    """Writes jobs for the deliver function, by dotted path, with the JSON serializer."""

    def __init__(self, redis: Redis, jobs: JobSettings) -> None:
        self._redis = redis
        self._jobs = jobs
        self._queues: dict[str, Queue] = {}

    def enqueue(self, accepted: list[Accepted]) -> Enqueued:
        """Create a job for every event id that has none yet; blocking (call it in a thread)."""
        unique = list({a.delivery.event_id: a for a in accepted}.values())
        with self._redis.pipeline(transaction=False) as pipe:
            for item in unique:
                pipe.exists(Job.key_for(item.delivery.event_id))
            exists = pipe.execute()
        fresh = [item for item, found in zip(unique, exists, strict=True) if not found]
        with self._redis.pipeline(transaction=True) as pipe:
            for name in sorted({item.queue for item in fresh}):
                data = [self._job(item) for item in fresh if item.queue == name]
                self._queue(name).enqueue_many(data, pipeline=pipe)
            pipe.execute()
        return Enqueued(created=len(fresh), duplicates=len(accepted) - len(fresh))

    def _job(self, item: Accepted) -> EnqueueData:
        jobs = self._jobs
        return Queue.prepare_data(
            DELIVER_JOB,
            args=(item.delivery.model_dump(mode="json"),),
            job_id=item.delivery.event_id,
            description=f"deliver {item.delivery.topic} event {item.delivery.event_id}",
            timeout=jobs.timeout_s,
            result_ttl=jobs.result_ttl_s,
            failure_ttl=jobs.failure_ttl_s,
            retry=Retry(max=jobs.retries, interval=jobs.retry_intervals_s)
            if jobs.retries
            else None,
        )

    def _queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, connection=self._redis, serializer=JSONSerializer)
        return self._queues[name]
