"""The aiohttp application each gunicorn worker runs.

The producer is created inside the worker, after gunicorn forked it: a Kafka client
(sockets, background tasks) shared across a fork would be broken in every child.
"""

from collections.abc import AsyncIterator

from aiohttp import web

from northbridge_gateway.health import healthz, readyz
from northbridge_gateway.intake import intake
from northbridge_gateway.problems import problem_middleware
from northbridge_gateway.publisher import Publisher
from northbridge_shared.contracts import NORTH_TOPIC, SOUTH_TOPIC
from northbridge_shared.settings import GatewaySettings, KafkaSettings

ENDPOINTS = {"/v1/North": NORTH_TOPIC, "/v1/South": SOUTH_TOPIC}

publisher_key = web.AppKey("publisher", Publisher)


def build_app(gateway: GatewaySettings, kafka: KafkaSettings) -> web.Application:
    """The routes, with the publisher opened and closed with the app."""
    publisher = Publisher(kafka.bootstrap_servers, gateway.publish_timeout_s, gateway.linger_ms)
    app = web.Application(middlewares=[problem_middleware], client_max_size=gateway.max_body_bytes)
    app[publisher_key] = publisher

    async def producer_lifetime(_: web.Application) -> AsyncIterator[None]:
        await publisher.start()
        yield
        await publisher.close(gateway.graceful_timeout_s)

    app.cleanup_ctx.append(producer_lifetime)
    for path, topic in ENDPOINTS.items():
        app.router.add_post(path, intake(topic, publisher, gateway.retry_after_s))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(publisher))
    return app
