"""Failed jobs (rq's failed registry): run them again, each noted in its event's receipt.

A requeued job runs once more (its retries are spent) and mails at most once: the worker's
send record still holds for an event that was mailed, and a refused send released it.
"""

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError
from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_shared import receipts
from northbridge_shared.jobs import Delivery
from northbridge_shared.receipts import Hop

# A traceback's "ExceptionType: message" line; details (pydantic's) may follow it.
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*: .*$", re.MULTILINE)


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
        for job_id in failed_ids(redis, name):
            requeued = requeue(redis, name, job_id, receipt_ttl_s)
            if requeued is not None:
                on_requeued(requeued)
                done.append(requeued)
    return done


def requeue(redis: Redis, queue: str, job_id: str, receipt_ttl_s: int) -> Requeued | None:
    """Put one failed job back on its queue, noted in its receipt; None if it is gone."""
    try:
        job = _registry(redis, queue).requeue(job_id)
    except (NoSuchJobError, InvalidJobOperation):
        return None  # expired, deleted or requeued by someone else meanwhile
    requeued = Requeued(queue, job_id, event_id(job))
    with redis.pipeline(transaction=False) as pipe:
        ledger = topic(job)
        receipts.note(
            pipe, requeued.event_id, Hop.REQUEUED, receipt_ttl_s, ledger=ledger, queue=queue
        )
        pipe.execute()
    return requeued


def delete(redis: Redis, queue: str, job_id: str) -> bool:
    """Remove one failed job for good; False if it is not (or no longer) a failed job.

    Only a job taken out of the failed registry is deleted: one retried meanwhile is queued
    or running again, and deleting it would lose its mail.
    """
    if not _registry(redis, queue).remove(job_id):
        return False
    with contextlib.suppress(NoSuchJobError):  # its data had expired: nothing more to delete
        Job.fetch(job_id, connection=redis, serializer=JSONSerializer).delete()
    return True


@dataclass(frozen=True)
class Failure:
    """A failed job as the dashboard lists it."""

    queue: str
    job_id: str
    event_id: str
    topic: str
    error: str  # the exception's last line
    ended_at: str | None


def failures(redis: Redis, queues: list[str], limit: int = 100) -> list[Failure]:
    """The latest ``limit`` failed jobs of ``queues``, newest first per queue."""
    found = []
    for name in queues:
        ids = _registry(redis, name).get_job_ids(0, limit - 1, desc=True)
        for job in Job.fetch_many(ids, connection=redis, serializer=JSONSerializer):
            if job is None:
                continue  # expired between the two reads
            result = job.latest_result()
            text = (result.exc_string or "") if result else ""
            lines = EXCEPTION_LINE.findall(text) or text.strip().splitlines()
            ended = job.ended_at.isoformat() if job.ended_at else None
            found.append(
                Failure(name, job.id, event_id(job), topic(job), lines[-1] if lines else "", ended)
            )
    return found


def delivery(job: Job) -> Delivery | None:
    """The event a deliver job mails; None for a job that is not one (or whose data is gone)."""
    try:
        return Delivery.model_validate(job.args[0]) if job.args else None
    except ValidationError:
        return None


def event_id(job: Job) -> str:
    """The event a job mails (the bridge's job id is the event id)."""
    found = delivery(job)
    return found.event_id if found else job.id


def topic(job: Job) -> str:
    """The topic of the event a job mails; ``unknown`` for a job that is not a delivery."""
    found = delivery(job)
    return found.topic if found else "unknown"


def _registry(redis: Redis, queue: str) -> FailedJobRegistry:
    return FailedJobRegistry(queue=Queue(queue, connection=redis, serializer=JSONSerializer))
