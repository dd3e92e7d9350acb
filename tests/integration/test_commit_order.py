"""On the real Kafka and Redis: a batch's offsets reach Kafka only after its jobs reach Redis.

The bridge runs in this process on a topic and a group of its own, so the pipeline's bridge
never sees these records. Only the Redis failure is the test's: its enqueuer refuses the
first write, and before each write reads what Kafka has committed for the group.
"""

import asyncio
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job

from northbridge_bridge.consume import Bridge
from northbridge_bridge.dead_letter import DeadLetter
from northbridge_bridge.enqueue import Enqueuer
from northbridge_bridge.records import Accepted
from northbridge_bridge.settings import BridgeSettings
from northbridge_shared.contracts import dead_letter_topic
from northbridge_shared.heartbeat import Heartbeat
from northbridge_shared.identity import derived_event_id
from northbridge_shared.jobs import MailKind, Route
from northbridge_shared.settings import JobSettings
from northbridge_stack.kafka import KafkaBroker

from .support import committed_offsets, read_topic

GOOD = b'{"name": "ada", "loc": "london"}'
BAD = b"{not json"


class RefusingOnce(Enqueuer):
    """The real enqueuer, but its first write fails; each write first reads the commit."""

    def __init__(self, redis: Redis, bootstrap: str, tp: TopicPartition, group: str) -> None:
        super().__init__(redis, JobSettings(), receipt_ttl_s=3600, group=group)
        self._where = (bootstrap, tp, group)
        self.committed_at_write: list[int] = []

    def write(self, fresh: list[Accepted], dead: list[DeadLetter]) -> None:
        bootstrap, tp, group = self._where
        self.committed_at_write.append(committed_offsets(bootstrap, [tp], group)[tp])
        if len(self.committed_at_write) == 1:
            raise RedisConnectionError("refused by the test")
        super().write(fresh, dead)


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


async def poll(consumer: Any, count: int) -> dict[TopicPartition, list[Any]]:
    """One batch of ``count`` records, as the bridge's poll would return it."""
    batch: dict[TopicPartition, list[Any]] = {}
    async with asyncio.timeout(30):
        while sum(len(records) for records in batch.values()) < count:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                batch.setdefault(tp, []).extend(records)
    return batch


def test_offsets_reach_kafka_only_after_the_jobs_reach_redis(
    kafka: KafkaBroker, private_redis: Redis, tmp_path: Path
) -> None:
    """Redis refuses the first write: Kafka holds no commit until the retried write is in."""
    bootstrap, name = kafka.bootstrap_servers, f"commit-order-{uuid.uuid4().hex[:8]}"
    tp, group, values = TopicPartition(name, 0), name, [GOOD, BAD, GOOD]
    enqueuer = RefusingOnce(private_redis, bootstrap, tp, group)
    settings = BridgeSettings(
        group_id=group, routes={name: Route(queue=name, mail=MailKind.DIRECT)}
    )

    async def scenario() -> None:
        await create_topics(bootstrap, name, dead_letter_topic(name))
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await producer.start()
        await consumer.start()
        try:
            for value in values:
                await producer.send_and_wait(name, value=value, partition=0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            batch = await poll(consumer, len(values))
            bridge = Bridge(consumer, producer, enqueuer, settings, Heartbeat(tmp_path / "alive"))
            await bridge._process(batch, asyncio.Event())
        finally:
            await consumer.stop()
            await producer.stop()

    asyncio.run(scenario())
    assert enqueuer.committed_at_write == [0, 0]  # nothing committed at either attempt
    assert committed_offsets(bootstrap, [tp], group) == {tp: len(values)}
    for offset in (0, 2):
        assert Job.exists(derived_event_id(name, 0, offset), connection=private_redis)
    assert len(read_topic(bootstrap, dead_letter_topic(name))) == 1
