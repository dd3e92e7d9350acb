"""Prometheus metrics every service shares: the reconciliation counters, and their serving.

``northbridge_events_total{topic, hop}`` counts each event at each hop, whichever service
saw it: ``accepted`` (gateway, a 202), ``enqueued``, ``duplicate``, ``dead_lettered``
(bridge), ``sent``, ``failed`` (email-worker). So one query compares the hops of a topic:
``sum by (topic, hop) (northbridge_events_total)``; after a burst of valid events, accepted,
enqueued and sent agree.

The bridge and the workers serve ``/metrics`` on a port of their own (a thread of
prometheus_client's); the gateway serves it on its HTTP port, summed over its processes.
"""

from typing import Final

import structlog
from prometheus_client import CollectorRegistry, Counter, start_http_server

log = structlog.get_logger(__name__)

EVENTS: Final = "northbridge_events"


def events_counter(registry: CollectorRegistry | None) -> Counter:
    """The reconciliation counter, in ``registry``."""
    return Counter(
        EVENTS,
        "Events at each hop: accepted (gateway), enqueued, duplicate, dead_lettered (bridge),"
        " sent, failed (email-worker)",
        ["topic", "hop"],
        registry=registry,
    )


def serve(host: str, port: int, registry: CollectorRegistry) -> None:
    """Serve ``registry`` on ``host:port`` from a thread; port 0 serves nothing.

    A port already taken (two services on one host with the same setting) costs the
    metrics, logged, not the service.
    """
    if port == 0:
        return
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        log.warning("metrics_not_served", host=host, port=port, error=repr(error))
        return
    log.info("metrics_served", url=f"http://{host}:{port}/metrics")
