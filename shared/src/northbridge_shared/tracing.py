"""OpenTelemetry traces, off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

One trace follows an event: the gateway's HTTP span and its publish, the bridge's enqueue,
and each delivery attempt of the worker (a retry is a span of its own under the same
enqueue). The W3C ``traceparent`` (and ``tracestate``) travels in the Kafka record's headers
and in the rq job's ``meta``. Span and attribute names follow OTel's messaging conventions
(``messaging.system``, ``messaging.destination.name``, ``messaging.kafka.*``).

Everything else is OTel's own configuration (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_SCHEDULE_DELAY``, ...), read by the SDK. Without an
endpoint no SDK is installed: the API's no-op tracer costs next to nothing.

Call :func:`configure` in each process after any fork (the exporter has a thread of its own).
"""

import os
from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter

ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

KafkaHeaders = list[tuple[str, bytes]]


def enabled() -> bool:
    """Whether an OTLP endpoint is configured."""
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def configure(service: str) -> None:
    """Export this process's spans over OTLP/HTTP when an endpoint is set; else do nothing."""
    if not enabled():
        return
    # Imported here: a process without an endpoint never loads the SDK or the exporter.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    name = os.environ.get("OTEL_SERVICE_NAME") or f"northbridge-{service}"
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def shutdown() -> None:
    """Flush and stop the exporter (spans still queued are sent), if one was configured."""
    provider = trace.get_tracer_provider()
    stop = getattr(provider, "shutdown", None)  # the API's no-op provider has none
    if stop is not None:
        stop()


def flush() -> None:
    """Export the spans still queued now (a process about to ``os._exit``), if configured."""
    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)  # the API's no-op provider has none
    if force_flush is not None:
        force_flush()


class _KafkaHeaders(Getter[Sequence[tuple[str, bytes | None]]], Setter[KafkaHeaders]):
    """W3C trace context in Kafka record headers (names are text, values bytes)."""

    def get(self, carrier: Sequence[tuple[str, bytes | None]], key: str) -> list[str] | None:
        values = [v.decode(errors="replace") for k, v in carrier if k == key and v is not None]
        return values or None

    def keys(self, carrier: Sequence[tuple[str, bytes | None]]) -> list[str]:
        return [k for k, _ in carrier]

    def set(self, carrier: KafkaHeaders, key: str, value: str) -> None:
        carrier[:] = [(k, v) for k, v in carrier if k != key]
        carrier.append((key, value.encode()))


KAFKA_HEADERS: Final = _KafkaHeaders()


def to_kafka_headers(headers: KafkaHeaders) -> KafkaHeaders:
    """``headers`` with the current trace context added (unchanged when tracing is off)."""
    propagate.inject(headers, setter=KAFKA_HEADERS)
    return headers


def from_kafka_headers(headers: Sequence[tuple[str, bytes | None]]) -> Context:
    """The trace context a record carries (empty: a new trace starts)."""
    return propagate.extract(headers, getter=KAFKA_HEADERS)


def to_carrier(context: Context | None = None) -> dict[str, str]:
    """A trace context (default: the current one) as a plain mapping, for a job's ``meta``."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return carrier


def from_carrier(carrier: Mapping[str, str]) -> Context:
    """The trace context of :func:`to_carrier`'s mapping."""
    return propagate.extract(carrier)
