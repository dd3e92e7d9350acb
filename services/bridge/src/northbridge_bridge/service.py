"""Wire the bridge from settings: consumer, dead-letter producer, Redis, signals.

Kafka may not answer yet when the bridge starts (a restart of everything at once, an
outage): each Kafka client is started again with capped backoff until it connects, or
until SIGTERM, rather than the process exiting on "Unable to bootstrap".
"""

import asyncio
import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from northbridge_bridge.consume import Bridge, HandOver
from northbridge_bridge.enqueue import Enqueuer
from northbridge_bridge.metrics import BridgeMetrics, QueueCollector
from northbridge_bridge.settings import BridgeSettings
from northbridge_bridge.standby import Standby
from northbridge_shared import tracing
from northbridge_shared.heartbeat import Heartbeat
from northbridge_shared.metrics import serve as serve_metrics
from northbridge_shared.settings import (
    JobSettings,
    KafkaSettings,
    MetricsSettings,
    ReceiptSettings,
    RedisSettings,
)

log = structlog.get_logger(__name__)

C = TypeVar("C", AIOKafkaConsumer, AIOKafkaProducer)
FIRST_RETRY_S = 0.5


@dataclass(frozen=True)
class BridgeConfig:
    """Every settings model the bridge reads."""

    bridge: BridgeSettings
    kafka: KafkaSettings
    redis: RedisSettings
    jobs: JobSettings
    receipt: ReceiptSettings
    metrics: MetricsSettings


async def serve(config: BridgeConfig) -> None:
    """Run until SIGTERM or SIGINT, then finish the batch, commit and leave the group."""
    settings, kafka, redis = config.bridge, config.kafka, config.redis
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    # One quick retry (a pooled connection Redis has closed), not redis-py's default ten: an
    # outage then surfaces within seconds, and the bridge's own loop logs it, backs off and
    # beats the heartbeat, rather than blocking silently in one call for minutes.
    connection = Redis.from_url(
        redis.url, socket_timeout=10, socket_connect_timeout=5, retry=Retry(NoBackoff(), 1)
    )
    heartbeat = Heartbeat(settings.heartbeat_file)
    heartbeat.clear()  # a previous run's file must not vouch for this one while it starts
    busy = asyncio.Lock()
    metrics = BridgeMetrics(settings.group_id)
    queues = {route.queue for route in settings.routes.values()}
    # A client of its own, quick to give up: a scrape during a Redis outage must answer in
    # time (with the lag), not wait on the bridge's retrying connection.
    scrape = Redis.from_url(
        redis.url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    metrics.registry.register(QueueCollector(scrape, queues))
    serve_metrics(config.metrics.host, settings.metrics_port, metrics.registry)

    consumer = partial(_consumer, settings, kafka, busy)
    producer = partial(_producer, kafka)

    async def run() -> None:
        async with contextlib.AsyncExitStack() as stack:
            started: list[Any] = []
            for make in (producer, consumer):
                client = await start_with_backoff(make, settings.retry_backoff_max_s, stopping)
                if client is None:
                    return  # asked to stop before Kafka answered
                # Stopping the consumer leaves the group: its partitions move on at once.
                stack.push_async_callback(client.stop)
                started.append(client)
            dead_letters, records = started
            enqueuer = Enqueuer(connection, config.jobs, config.receipt.ttl_s, settings.group_id)
            bridge = Bridge(
                records, dead_letters, enqueuer, settings, heartbeat, busy=busy, metrics=metrics
            )
            log.info(
                "bridge_started",
                topics=sorted(settings.routes),
                group=settings.group_id,
                heartbeat=str(heartbeat.path),
            )
            await bridge.run(stopping)

    tracing.configure("bridge")
    try:
        await run()
    finally:
        tracing.shutdown()
        connection.close()
        scrape.close()
        heartbeat.clear()  # stopped (or failed) is not alive
    log.info("bridge_stopped")


def _consumer(
    settings: BridgeSettings, kafka: KafkaSettings, busy: asyncio.Lock
) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        group_id=settings.group_id,
        enable_auto_commit=False,
        # A new group starts at the beginning: events written before the bridge first ran count.
        auto_offset_reset="earliest",
        fetch_min_bytes=settings.fetch_min_bytes,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )
    topics = sorted(settings.routes)
    standby = Standby(settings.group_id, topics, consumer.partitions_for_topic)
    consumer.subscribe(topics=topics, listener=HandOver(busy, standby))
    return consumer


def _producer(kafka: KafkaSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**kafka.client_options(), acks="all", enable_idempotence=True)


async def start_with_backoff(
    make: Callable[[], C], backoff_max_s: float, stopping: asyncio.Event
) -> C | None:
    """A started Kafka client, built anew for each attempt; None if asked to stop first."""
    delay = FIRST_RETRY_S
    while not stopping.is_set():
        client = make()
        try:
            await client.start()
        except KafkaError as error:
            await client.stop()  # a half-started client must not leave tasks behind
            kind = type(client).__name__
            log.warning("kafka_unreachable", client=kind, error=repr(error), retry_in_s=delay)
        else:
            return client
        with contextlib.suppress(TimeoutError):  # woken early by shutdown
            await asyncio.wait_for(stopping.wait(), timeout=delay)
        delay = min(delay * 2, backoff_max_s)
    return None
