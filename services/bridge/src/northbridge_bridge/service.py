"""Wire the bridge from settings: consumer, dead-letter producer, Redis, signals."""

import asyncio
import signal

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import TopicPartition
from redis import Redis

from northbridge_bridge.consume import Bridge
from northbridge_bridge.enqueue import Enqueuer
from northbridge_shared.settings import BridgeSettings, JobSettings, KafkaSettings, RedisSettings

log = structlog.get_logger(__name__)


class LogRebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """Say which partitions this bridge owns; rebalances explain most duplicate reads."""

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Log partitions handed back to the group."""
        log.info(
            "partitions_revoked", partitions=sorted(f"{p.topic}/{p.partition}" for p in revoked)
        )

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Log partitions this bridge now reads."""
        log.info(
            "partitions_assigned", partitions=sorted(f"{p.topic}/{p.partition}" for p in assigned)
        )


async def serve(
    bridge: BridgeSettings, kafka: KafkaSettings, redis: RedisSettings, jobs: JobSettings
) -> None:
    """Run until SIGTERM or SIGINT, then finish the batch, commit and leave the group."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=bridge.group_id,
        enable_auto_commit=False,
        # A new group starts at the beginning: events written before the bridge first ran count.
        auto_offset_reset="earliest",
    )
    consumer.subscribe(topics=sorted(bridge.routes), listener=LogRebalance())
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, acks="all", enable_idempotence=True
    )
    connection = Redis.from_url(redis.url, socket_timeout=10, socket_connect_timeout=5)
    await producer.start()
    try:
        await consumer.start()
        try:
            log.info("bridge_started", topics=sorted(bridge.routes), group=bridge.group_id)
            await Bridge(
                consumer,
                producer,
                Enqueuer(connection, jobs),
                bridge,
            ).run(stopping)
        finally:
            await consumer.stop()  # leaves the group so its partitions move on at once
    finally:
        await producer.stop()
        connection.close()
    log.info("bridge_stopped")
