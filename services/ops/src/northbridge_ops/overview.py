"""What the dashboard shows, read from Redis: the ledger, queues, workers, latest events."""

from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.registry import (
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from northbridge_shared import receipts

REGISTRIES = {
    "started": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
    "failed": FailedJobRegistry,
    "finished": FinishedJobRegistry,
}


def ledger(redis: Redis, topics: list[str]) -> dict[str, dict[str, int]]:
    """How many events of each topic reached each hop, ever."""
    with redis.pipeline(transaction=False) as pipe:
        for topic in topics:
            pipe.hgetall(receipts.COUNTS_PREFIX + topic)
        replies = pipe.execute()
    return {
        topic: {field.decode(): int(value) for field, value in counts.items()}
        for topic, counts in zip(topics, replies, strict=True)
    }


def queues(redis: Redis, names: list[str]) -> list[dict[str, Any]]:
    """Each queue's depth and its registries' sizes (no cleanup: reading moves nothing)."""
    rows = []
    for name in names:
        queue = Queue(name, connection=redis)
        row: dict[str, Any] = {"name": name, "queued": queue.count}
        for status, registry in REGISTRIES.items():
            row[status] = registry(queue=queue).get_job_count(cleanup=False)
        rows.append(row)
    return rows


def workers(redis: Redis) -> list[dict[str, Any]]:
    """Every registered rq worker: state, job in hand, counts, last heartbeat."""
    return [
        {
            "name": worker.name,
            "state": worker.get_state(),
            "job": worker.get_current_job_id(),
            "queues": worker.queue_names(),
            "successful": worker.successful_job_count,
            "failed": worker.failed_job_count,
            "heartbeat": worker.last_heartbeat.isoformat() if worker.last_heartbeat else None,
        }
        for worker in sorted(Worker.all(connection=redis), key=lambda w: w.name)
    ]


def recent_events(redis: Redis, limit: int) -> list[dict[str, Any]]:
    """The latest events the bridge handled, newest first, with their latest hop."""
    # An event handled twice (a replay, a re-read) is listed once, where it was last.
    ids = list(dict.fromkeys(_text(raw) for raw in redis.lrange(receipts.RECENT_KEY, 0, limit - 1)))
    with redis.pipeline(transaction=False) as pipe:
        for event_id in ids:
            pipe.hgetall(receipts.receipt_key(event_id))
        replies = pipe.execute()
    rows = []
    for event_id, fields in zip(ids, replies, strict=True):
        if not fields:
            continue  # its receipt expired
        found = receipts.receipt(event_id, fields)
        latest = found["hops"][-1]
        rows.append({"id": event_id, "state": found["state"], "at": latest["at"]})
    return rows


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
