"""Trace context through Kafka headers and job meta, checked with OTel's in-memory exporter."""

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from northbridge_shared import tracing


def tracer_and_spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_a_record_carries_its_producer_span_to_the_consumer() -> None:
    """Traceparent added to the record's headers makes the consumer's span its child."""
    provider, exporter = tracer_and_spans()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("send"):
        headers = tracing.to_kafka_headers([("event-id", b"evt-1")])
    with tracer.start_as_current_span("process", context=tracing.from_kafka_headers(headers)):
        pass
    send, process = exporter.get_finished_spans()
    assert [name for name, _ in headers] == ["event-id", "traceparent"]
    assert process.context.trace_id == send.context.trace_id
    assert process.parent is not None
    assert process.parent.span_id == send.context.span_id


def test_a_job_meta_carries_the_bridge_span_to_each_attempt() -> None:
    """The carrier in a job's meta makes every attempt a child of the same span."""
    provider, exporter = tracer_and_spans()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("enqueue"):
        carrier = tracing.to_carrier()
    for name in ("attempt-1", "attempt-2"):
        with tracer.start_as_current_span(name, context=tracing.from_carrier(carrier)):
            pass
    enqueue, *attempts = sorted(exporter.get_finished_spans(), key=lambda s: s.name != "enqueue")
    assert {a.parent.span_id for a in attempts if a.parent} == {enqueue.context.span_id}


def test_without_a_span_nothing_is_added() -> None:
    """Tracing off (no span): the record's headers and the job's meta stay as they were."""
    assert tracing.to_kafka_headers([("event-id", b"evt-1")]) == [("event-id", b"evt-1")]
    assert tracing.to_carrier() == {}


def test_tracing_is_on_only_with_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OTLP endpoint, no SDK: configure() leaves the API's no-op tracer in place."""
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not tracing.enabled()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    assert tracing.enabled()
