"""One trace follows an event: HTTP, publish, the bridge's enqueue, each delivery attempt."""

import secrets
import uuid

from rq import Queue, Retry
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_shared.contracts import DELIVER_JOB, NORTH_TOPIC, NOTIFICATION_QUEUE, TRACE_META
from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline
from .otlp import ReceivedSpan
from .support import wait_for, wait_for_mail
from .test_delivery import TIMEOUT

SERVER, PRODUCER, CONSUMER = 2, 4, 5  # OTLP's SpanKind numbers


def spans_of_trace(pipeline: Pipeline, trace_id: str, count: int) -> list[ReceivedSpan]:
    """Wait for ``count`` spans of ``trace_id`` to arrive."""

    def arrived() -> list[ReceivedSpan] | None:
        spans = [s for s in pipeline.traces.spans() if s.trace_id == trace_id]
        return spans if len(spans) >= count else None

    return wait_for(arrived, timeout=TIMEOUT, what=f"{count} spans of trace {trace_id}")


def test_one_trace_runs_from_the_request_to_the_mail(pipeline: Pipeline) -> None:
    """The client's traceparent goes on: server, publish, the bridge's record, the send."""
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    answer = pipeline.post(
        "/v1/North", '{"name": "ada", "loc": "traced"}', traceparent=f"00-{trace_id}-{parent}-01"
    )
    event_id = answer.json()["id"]
    wait_for_mail(pipeline.mail, event_id)
    spans = {s.name: s for s in spans_of_trace(pipeline, trace_id, 4)}
    server = spans["POST /v1/North"]
    send = spans[f"send {NORTH_TOPIC}"]
    process = spans[f"process {NORTH_TOPIC}"]
    attempt = spans[f"process {NOTIFICATION_QUEUE}"]
    assert (server.kind, send.kind, process.kind, attempt.kind) == (
        SERVER,
        PRODUCER,
        CONSUMER,
        CONSUMER,
    )
    chain = [(server.parent_span_id, parent), (send.parent_span_id, server.span_id)]
    chain += [(process.parent_span_id, send.span_id), (attempt.parent_span_id, process.span_id)]
    assert all(child == expected for child, expected in chain)
    assert (server.service, process.service, attempt.service) == (
        "northbridge-gateway",
        "northbridge-bridge",
        "northbridge-email-worker",
    )
    where = answer.json()
    assert send.attributes["messaging.system"] == "kafka"
    assert send.attributes["messaging.destination.name"] == NORTH_TOPIC
    assert send.attributes["messaging.kafka.offset"] == where["offset"]
    assert process.attributes["messaging.destination.partition.id"] == str(where["partition"])
    assert process.attributes["messaging.consumer.group.name"] == "bridge"
    assert attempt.attributes["northbridge.event_id"] == event_id
    assert attempt.attributes["northbridge.outcome"] == "sent"


def test_each_retry_is_a_span_of_its_own(pipeline: Pipeline) -> None:
    """A job that fails twice leaves two failed attempt spans under the one enqueue span."""
    queue_name = f"TraceQueue-{uuid.uuid4().hex[:6]}"
    worker = pipeline.start(
        services.worker(96), {"WORKER_QUEUES": f'["{queue_name}"]', "SMTP_PORT": str(free_port())}
    )
    trace_id, enqueue_span = secrets.token_hex(16), secrets.token_hex(8)
    payload = {
        "event_id": f"evt-{uuid.uuid4()}",
        "topic": "south-updates",
        "mail": "direct",
        "event": {"name": "ada", "loc": "traced-retry"},
    }
    try:
        queue = Queue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
        job = queue.enqueue(
            DELIVER_JOB,
            payload,
            retry=Retry(max=1, interval=1),
            meta={TRACE_META: {"traceparent": f"00-{trace_id}-{enqueue_span}-01"}},
        )
        registry = FailedJobRegistry(queue=queue)
        wait_for(lambda: job.id in registry.get_job_ids(), timeout=TIMEOUT, what="the failure")
        attempts = spans_of_trace(pipeline, trace_id, 2)
    finally:
        worker.stop()
    assert len(attempts) == 2
    assert {s.parent_span_id for s in attempts} == {enqueue_span}
    assert all(s.error for s in attempts)
    assert [s.attributes["northbridge.outcome"] for s in attempts] == ["failed", "failed"]
