"""The worker's hops in an event's receipt: each attempt, the mail sent, the job failed.

Each is counted in the worker's metrics as it is written.

A receipt write that fails (Redis gone mid-job) is logged, never raised: the mail's outcome
is already decided, and rq must see the job's own result, not the receipt's.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from opentelemetry import trace
from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job

from northbridge_email_worker.metrics import worker_metrics
from northbridge_shared import receipts
from northbridge_shared.jobs import Delivery
from northbridge_shared.receipts import Hop

log = structlog.get_logger(__name__)


class Attempts:
    """Writes one job's hops under its event id."""

    def __init__(self, redis: Redis, job: Job, delivery: Delivery, ttl_s: int) -> None:
        self._redis = redis
        self._job = job
        self._event_id = delivery.event_id
        self._topic = delivery.topic
        self._ttl_s = ttl_s
        self._metrics = worker_metrics()

    def sent(self, message_id: str, reply: str) -> None:
        """The server accepted the mail: the attempt and the sent hop, in one transaction."""
        self._count("sent", final="sent")
        self._write(
            (Hop.ATTEMPT, {"outcome": "sent", "reply": reply}),
            (Hop.SENT, {"message_id": message_id, "reply": reply}),
        )

    def settled(self, outcome: str, **facts: object) -> None:
        """An attempt that ends the job without a mail from it (sent before, unconfirmed)."""
        self._count(outcome)
        self._write((Hop.ATTEMPT, {"outcome": outcome, **facts}))

    def failed(self, outcome: str, error: BaseException) -> None:
        """An attempt that raises: rq retries it at ``next_retry_at``, or it failed for good."""
        text = f"{type(error).__name__}: {error}"
        self._count(outcome, final=None if self._job.should_retry else "failed")
        if self._job.should_retry:
            retry_in = timedelta(seconds=self._job.get_retry_interval())
            at = receipts.iso(datetime.now(UTC) + retry_in)
            self._write((Hop.ATTEMPT, {"outcome": outcome, "error": text, "next_retry_at": at}))
        else:
            self._write(
                (Hop.ATTEMPT, {"outcome": outcome, "error": text, "next_retry_at": None}),
                (Hop.FAILED, {"error": text, "job_id": self._job.id}),
            )

    def _count(self, outcome: str, final: str | None = None) -> None:
        trace.get_current_span().set_attribute("northbridge.outcome", outcome)
        self._metrics.attempts.labels(self._topic, outcome).inc()
        if final:
            self._metrics.events.labels(self._topic, final).inc()

    def _write(self, *entries: tuple[Hop, dict[str, Any]]) -> None:
        try:
            with self._redis.pipeline(transaction=True) as pipe:
                for hop, facts in entries:
                    note = receipts.note
                    note(pipe, self._event_id, hop, self._ttl_s, ledger=self._topic, **facts)
                pipe.execute()
        except RedisError as error:
            log.warning(
                "receipt_not_written", hops=[h.value for h, _ in entries], error=repr(error)
            )
