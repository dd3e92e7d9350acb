"""The bridge's trace spans: one per record it turns into a job (CONSUMER).

Each continues the trace the record's headers carry (the gateway's publish), and its own
context goes into the job's meta, where the worker's attempts continue it.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from northbridge_bridge.records import Accepted
from northbridge_shared import tracing

tracer = trace.get_tracer("northbridge.bridge")


def record_span(item: Accepted, group: str) -> Span:
    """A CONSUMER span for one record, in the trace its headers carry, until its job is in."""
    record = item.record
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
        "messaging.message.id": item.delivery.event_id,
        "northbridge.queue": item.queue,
    }
    if record.key is not None:
        attributes["messaging.kafka.message.key"] = record.key.decode(errors="replace")
    return tracer.start_span(
        f"process {record.topic}",
        context=tracing.from_kafka_headers(record.headers),
        kind=SpanKind.CONSUMER,
        attributes=attributes,
    )


@contextmanager
def ending(spans: Iterable[Span]) -> Iterator[None]:
    """End ``spans`` when the block does; an error in it marks them failed."""
    try:
        yield
    except Exception as error:
        for span in spans:
            span.record_exception(error)
            span.set_status(StatusCode.ERROR)
        raise
    finally:
        for span in spans:
            span.end()
