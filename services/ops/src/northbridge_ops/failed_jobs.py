"""Failed jobs (rq's failed registry): run them again, each noted in its event's receipt.

A requeued job runs once more (its retries are spent) and mails at most once: the worker's
send record still holds for an event that was mailed, and a refused send released it.
"""

from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_shared import receipts
from northbridge_shared.receipts import Hop


@dataclass(frozen=True)
class Requeued:
    """One failed job put back on its queue."""

    queue: str
    job_id: str
    event_id: str


def failed_ids(redis: Redis, queue: str) -> list[str]:
    """The ids of ``queue``'s failed jobs, oldest first."""
    return _registry(redis, queue).get_job_ids()


def retry_failed(
    redis: Redis,
    queues: list[str],
    receipt_ttl_s: int,
    on_requeued: Callable[[Requeued], None] = lambda _: None,
) -> list[Requeued]:
    """Requeue every failed job of ``queues``; a job gone meanwhile is skipped."""
    done = []
    for name in queues:
        registry = _registry(redis, name)
        for job_id in registry.get_job_ids():
            try:
                job = registry.requeue(job_id)
            except (NoSuchJobError, InvalidJobOperation):
                continue  # expired, deleted or requeued by someone else meanwhile
            requeued = Requeued(name, job_id, event_id(job))
            with redis.pipeline(transaction=False) as pipe:
                receipts.note(pipe, requeued.event_id, Hop.REQUEUED, receipt_ttl_s, queue=name)
                receipts.count(pipe, topic(job), Hop.REQUEUED)
                pipe.execute()
            on_requeued(requeued)
            done.append(requeued)
    return done


def event_id(job: Job) -> str:
    """The event a deliver job mails: its argument's ``event_id`` (the bridge's job id)."""
    args = job.args
    if args and isinstance(args[0], dict) and isinstance(args[0].get("event_id"), str):
        found: str = args[0]["event_id"]
        return found
    return job.id


def topic(job: Job) -> str:
    """The topic of the event a deliver job mails ("" if the job is not one)."""
    args = job.args
    if args and isinstance(args[0], dict) and isinstance(args[0].get("topic"), str):
        found: str = args[0]["topic"]
        return found
    return ""


def _registry(redis: Redis, queue: str) -> FailedJobRegistry:
    return FailedJobRegistry(queue=Queue(queue, connection=redis, serializer=JSONSerializer))
