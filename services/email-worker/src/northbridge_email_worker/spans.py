"""The worker's trace spans: one per delivery attempt (CONSUMER), retries each their own.

Each continues the trace the job's meta carries (the bridge's span for its record), so a
retried job shows as sibling attempts under one enqueue.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from rq.job import Job

from northbridge_shared import tracing
from northbridge_shared.contracts import TRACE_META

tracer = trace.get_tracer("northbridge.email_worker")


@contextmanager
def attempt(job: Job, event_id: str) -> Iterator[Span]:
    """A span around one run of ``job``; an exception marks it failed and goes on."""
    carrier = job.meta.get(TRACE_META)
    context = tracing.from_carrier(carrier) if isinstance(carrier, dict) else None
    attributes = {
        "messaging.system": "rq",
        "messaging.operation.type": "process",
        "messaging.destination.name": job.origin,
        "messaging.message.id": job.id,
        "northbridge.event_id": event_id,
    }
    with tracer.start_as_current_span(
        f"process {job.origin}", context=context, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
