"""Wire the bridge from settings: consumer, dead-letter producer, Redis, signals."""

import asyncio
import signal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from northbridge_bridge.consume import Bridge, HandOver
from northbridge_bridge.enqueue import Enqueuer
from northbridge_bridge.heartbeat import Heartbeat
from northbridge_shared.settings import BridgeSettings, JobSettings, KafkaSettings, RedisSettings

log = structlog.get_logger(__name__)


async def serve(
    settings: BridgeSettings, kafka: KafkaSettings, redis: RedisSettings, jobs: JobSettings
) -> None:
    """Run until SIGTERM or SIGINT, then finish the batch, commit and leave the group."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=settings.group_id,
        enable_auto_commit=False,
        # A new group starts at the beginning: events written before the bridge first ran count.
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True
    )
    # One quick retry (a pooled connection Redis has closed), not redis-py's default ten: an
    # outage then surfaces within seconds, and the bridge's own loop logs it, backs off and
    # beats the heartbeat, rather than blocking silently in one call for minutes.
    connection = Redis.from_url(
        redis.url, socket_timeout=10, socket_connect_timeout=5, retry=Retry(NoBackoff(), 1)
    )
    heartbeat = Heartbeat(settings.heartbeat_file)
    heartbeat.clear()  # a previous run's file must not vouch for this one while it starts
    bridge = Bridge(consumer, producer, Enqueuer(connection, jobs), settings, heartbeat)
    consumer.subscribe(topics=sorted(settings.routes), listener=HandOver(bridge))
    try:
        await producer.start()
        try:
            await consumer.start()
            try:
                log.info(
                    "bridge_started",
                    topics=sorted(settings.routes),
                    group=settings.group_id,
                    heartbeat=str(heartbeat.path),
                )
                await bridge.run(stopping)
            finally:
                await consumer.stop()  # leaves the group so its partitions move on at once
        finally:
            await producer.stop()
            connection.close()
    finally:
        heartbeat.clear()  # stopped (or failed) is not alive
    log.info("bridge_stopped")
