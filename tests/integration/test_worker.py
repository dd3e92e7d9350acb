"""The email-worker's guarantees: one mail per event id, and failures kept with their error."""

import uuid
from typing import Any

from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_shared.contracts import DELIVER_JOB, EMAIL_QUEUE
from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline
from .support import mails_with_id, wait_for
from .test_delivery import TIMEOUT


def payload(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "topic": "south-updates",
        "mail": "direct",
        "event": {"name": "ada", "loc": "worker-test"},
    }


def receipt_hops(pipeline: Pipeline, event_id: str) -> list[dict[str, Any]]:
    answer = pipeline.http.get(f"/v1/events/{event_id}")
    assert answer.status_code == 200, answer.text
    hops: list[dict[str, Any]] = answer.json()["hops"]
    return hops


def finished(job: Job) -> bool:
    return job.get_status(refresh=True) == JobStatus.FINISHED


def test_second_job_for_same_event_sends_no_second_mail(pipeline: Pipeline) -> None:
    """Two jobs carrying one event id (a retry, a replay) produce one mail."""
    event_id = f"evt-{uuid.uuid4()}"
    queue = Queue(EMAIL_QUEUE, connection=pipeline.redis, serializer=JSONSerializer)
    first = queue.enqueue(DELIVER_JOB, payload(event_id), job_id=f"{event_id}-a")
    wait_for(lambda: finished(first), timeout=TIMEOUT, what="the first job")
    second = queue.enqueue(DELIVER_JOB, payload(event_id), job_id=f"{event_id}-b")
    wait_for(lambda: finished(second), timeout=TIMEOUT, what="the second job")
    assert (first.return_value(), second.return_value()) == ("sent", "sent")
    assert second.latest_result() is not None
    assert len(mails_with_id(pipeline.mail, event_id)) == 1
    attempts = [h for h in receipt_hops(pipeline, event_id) if h["hop"] == "attempt"]
    assert [a["outcome"] for a in attempts] == ["sent", "already_sent"]


def test_exhausted_retries_land_in_failed_registry(pipeline: Pipeline) -> None:
    """SMTP unreachable: the job is retried, then kept in rq's failed registry with the error."""
    queue_name = f"FailQueue-{uuid.uuid4().hex[:6]}"
    worker = pipeline.start(
        services.worker(99),  # a worker of this test alone, on a queue of its own
        {"WORKER_QUEUES": f'["{queue_name}"]', "SMTP_PORT": str(free_port())},
    )
    try:
        queue = Queue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
        event_id = f"evt-{uuid.uuid4()}"
        job = queue.enqueue(DELIVER_JOB, payload(event_id), retry=Retry(max=1, interval=1))
        registry = FailedJobRegistry(queue=queue)
        wait_for(lambda: job.id in registry.get_job_ids(), timeout=TIMEOUT, what="the failure")
        job.refresh()  # type: ignore[no-untyped-call]
        assert job.retries_left == 0
        result = job.latest_result()
        assert result is not None
        assert "ConnectionRefusedError" in str(result.exc_string)
        hops = receipt_hops(pipeline, event_id)
        assert [h["hop"] for h in hops] == ["attempt", "attempt", "failed"]
        assert hops[0]["next_retry_at"] is not None  # one retry left
        assert hops[1]["next_retry_at"] is None
        assert "ConnectionRefusedError" in hops[2]["error"]
    finally:
        worker.stop()
