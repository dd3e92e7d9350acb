"""The gateway's Prometheus metrics, summed over gunicorn's worker processes.

Each worker process counts in files of its own under ``PROMETHEUS_MULTIPROC_DIR`` (which
``__main__`` names before prometheus_client is first imported: the library picks its mode
then), and ``GET /metrics``, whichever process answers it, reads them all. Without that
folder (the app built alone, in one process) it answers this process's counts.
"""

import os
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from northbridge_gateway.metrics_folder import METRICS_DIR
from northbridge_gateway.problems import Handler
from northbridge_shared.metrics import events_counter


class GatewayMetrics:
    """What the gateway counts and times, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's headers to its answer",
            ["route", "method"],
            registry=registry,
        )
        self.publish = Histogram(
            "northbridge_publish_duration_seconds",
            "Time for Kafka to acknowledge a publish (acks=all), failed ones included",
            ["topic"],
            registry=registry,
        )
        self.publish_failures = Counter(
            "northbridge_publish_failures",
            "Publishes Kafka did not acknowledge in time (answered 503)",
            ["topic"],
            registry=registry,
        )
        self.events = events_counter(registry)


def middleware(metrics: GatewayMetrics) -> Middleware:
    """Count and time every answer the app gives, problems included."""
    # The labelled series, looked up once each: labels() per request was ~2% of the time.
    series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @web.middleware
    async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        route = request.match_info.route.resource
        template = route.canonical if route is not None else "unmatched"
        status = 500  # unless the handler answers or raises an HTTP answer
        try:
            response = await handler(request)
        except web.HTTPException as error:
            status = error.status
            raise
        else:
            status = response.status
            return response
        finally:
            key = (template, request.method, status)
            if key not in series:
                series[key] = (
                    metrics.requests.labels(template, request.method, str(status)),
                    metrics.duration.labels(template, request.method),
                )
            count, duration = series[key]
            count.inc()
            duration.observe(time.perf_counter() - started)

    return measure


def exposition(metrics: GatewayMetrics) -> Handler:
    """``GET /metrics``: every process's counts, in Prometheus's text format."""

    async def handle(_: web.Request) -> web.Response:
        if os.environ.get(METRICS_DIR):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = metrics.registry
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle
