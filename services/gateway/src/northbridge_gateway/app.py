"""The aiohttp application each gunicorn worker runs.

The producer is created inside the worker, after gunicorn forked it: a Kafka client
(sockets, background tasks) shared across a fork would be broken in every child.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from northbridge_gateway import openapi
from northbridge_gateway.auth import Keys, auth_middleware
from northbridge_gateway.health import healthz, readyz
from northbridge_gateway.http_server import connection_cap_middleware
from northbridge_gateway.idempotency import Bindings
from northbridge_gateway.intake import Desk, closing_signal, intake
from northbridge_gateway.metrics import GatewayMetrics, exposition, middleware
from northbridge_gateway.problems import problem_middleware
from northbridge_gateway.publisher import Publisher
from northbridge_gateway.rate_limits import RateLimits
from northbridge_gateway.receipts import Acceptances, receipt_of
from northbridge_gateway.settings import GatewaySettings
from northbridge_gateway.spans import span_middleware
from northbridge_shared import tracing
from northbridge_shared.contracts import ENDPOINTS
from northbridge_shared.settings import JobSettings, KafkaSettings, ReceiptSettings, RedisSettings

publisher_key = web.AppKey("publisher", Publisher)


@dataclass(frozen=True)
class GatewayConfig:
    """Every settings model the gateway reads."""

    gateway: GatewaySettings
    kafka: KafkaSettings
    redis: RedisSettings
    jobs: JobSettings  # the binding time of an Idempotency-Key: JOB_EVENT_ID_TTL_S
    receipt: ReceiptSettings


def build_app(config: GatewayConfig) -> web.Application:
    """The routes, with the publisher and Redis opened and closed with the app."""
    gateway, kafka, redis, jobs = config.gateway, config.kafka, config.redis, config.jobs
    publisher = Publisher(kafka.client_options(), gateway.publish_timeout_s, gateway.linger_ms)
    # Redis binds Idempotency-Keys and keeps receipts; the same deadline as Kafka's.
    connection = Redis.from_url(
        redis.url,
        socket_timeout=gateway.publish_timeout_s,
        socket_connect_timeout=gateway.publish_timeout_s,
    )
    bindings = Bindings(connection, jobs.event_id_ttl_s, gateway.publish_timeout_s)
    acceptances = Acceptances(connection, config.receipt.ttl_s, gateway.publish_timeout_s)
    metrics = GatewayMetrics()
    keys = Keys(connection, gateway.auth_cache_s, gateway.publish_timeout_s)
    app = web.Application(
        # Outermost first: the count sees every answer, the connection cap's 503s included.
        middlewares=[
            # Without an OTLP endpoint a span per request costs ~6% of the gateway's time
            # for nothing (measured with py-spy under wrk), so the middleware is left out.
            *([span_middleware()] if tracing.enabled() else []),
            middleware(metrics),
            connection_cap_middleware,
            problem_middleware,
            *([auth_middleware(keys, gateway.retry_after_s)] if gateway.auth == "api-key" else []),
        ],
        # The larger of the two bounds; intake holds a single event to max_body_bytes.
        client_max_size=max(gateway.max_body_bytes, gateway.bulk_max_body_bytes),
    )
    app[publisher_key] = publisher
    limits = RateLimits(
        redis.url,
        gateway.rate_limit_per_client,
        gateway.rate_limit_per_recipient,
        gateway.publish_timeout_s,
    )
    closing = closing_signal(app)
    desk = Desk(publisher, bindings, acceptances, metrics, gateway, limits, closing)

    async def lifetime(_: web.Application) -> AsyncIterator[None]:
        tracing.configure("gateway")  # here: after gunicorn forked this worker
        await publisher.start()
        async with acceptances.running():
            yield
            await publisher.close(gateway.graceful_timeout_s)
        await bindings.close()
        tracing.shutdown()

    app.cleanup_ctx.append(lifetime)
    for path, topic in ENDPOINTS.items():
        app.router.add_post(path, intake(topic, desk))
    receipt = receipt_of(connection, gateway.publish_timeout_s, gateway.retry_after_s)
    app.router.add_get("/v1/events/{event_id}", receipt)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz(publisher))
    app.router.add_get("/metrics", exposition(metrics))
    openapi.routes(app, gateway)
    return app
