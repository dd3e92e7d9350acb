"""What the stack has done so far, read from outside every service, twice a second.

Each sample holds the records in Kafka (end offsets: the gateway's output), the Redis
ledger's counts (``enqueued`` is the bridge's output, ``sent`` the workers'), and the
queues' lengths. Throughput over time is the difference of two samples.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis.asyncio import Redis

from northbridge_shared.contracts import (
    BRIDGE_GROUP,
    EMAIL_QUEUE,
    NORTH_TOPIC,
    NOTIFICATION_QUEUE,
    SOUTH_TOPIC,
)
from northbridge_shared.receipts import COUNTS_PREFIX
from northbridge_stack.kafka import DEFAULT_PARTITIONS

TOPICS = (NORTH_TOPIC, SOUTH_TOPIC)
QUEUES = (NOTIFICATION_QUEUE, EMAIL_QUEUE)
INTERVAL_S = 0.5


@dataclass(frozen=True)
class Sample:
    """The pipeline's counters at one moment (``at``: monotonic seconds)."""

    at: float
    in_kafka: int
    enqueued: int
    sent: int
    queued: int


@dataclass
class Probe:
    """Reads the counters; :meth:`recording` keeps a sample every ``INTERVAL_S``."""

    kafka: AIOKafkaConsumer
    redis: Redis
    partitions: list[TopicPartition]
    admin: Any = None  # an AIOKafkaAdminClient (untyped): the bridges' group
    samples: list[Sample] = field(default_factory=list)

    async def read(self) -> Sample:
        """The counters now."""
        ends = await self.kafka.end_offsets(self.partitions)
        async with self.redis.pipeline(transaction=False) as pipe:
            for topic in TOPICS:
                pipe.hmget(COUNTS_PREFIX + topic, ["enqueued", "sent"])
            for queue in QUEUES:
                pipe.llen(f"rq:queue:{queue}")
            answers = await pipe.execute()
        counts = answers[: len(TOPICS)]
        return Sample(
            at=time.monotonic(),
            in_kafka=sum(ends.values()),
            enqueued=sum(int(c[0] or 0) for c in counts),
            sent=sum(int(c[1] or 0) for c in counts),
            queued=sum(answers[len(TOPICS) :]),
        )

    async def backlog(self) -> dict[TopicPartition, int]:
        """The records in each partition that holds any (the input of the bridges)."""
        ends = await self.kafka.end_offsets(self.partitions)
        return {tp: end for tp, end in sorted(ends.items()) if end}

    async def group_members(self) -> int:
        """How many bridges the group has once it is Stable (0 while it rebalances)."""
        described = await self.admin.describe_consumer_groups([BRIDGE_GROUP])
        # DescribeGroups response: groups = [(error_code, group_id, state, ..., members), ...]
        found = described[0].groups[0]
        return len(found[5]) if found[2] == "Stable" else 0

    async def redis_calls(self) -> dict[str, int]:
        """Redis's count of each command it ran so far (``INFO commandstats``)."""
        stats = await self.redis.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}

    @asynccontextmanager
    async def recording(self) -> AsyncIterator[list[Sample]]:
        """Sample in the background for as long as the block runs; the samples of the block."""
        taken: list[Sample] = []

        async def keep() -> None:
            while True:
                taken.append(await self.read())
                await asyncio.sleep(INTERVAL_S)

        task = asyncio.create_task(keep())
        try:
            yield taken
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            taken.append(await self.read())

    async def wait_for(self, done: Callable[[Sample], bool], timeout_s: float) -> Sample:
        """Read until ``done(sample)`` holds (the last sample), or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            sample = await self.read()
            if done(sample) or time.monotonic() >= deadline:
                return sample
            await asyncio.sleep(0.1)


@asynccontextmanager
async def probe(bootstrap_servers: str, redis_url: str) -> AsyncIterator[Probe]:
    """A probe with its own Kafka client (no group) and Redis connection."""
    kafka = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await kafka.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    redis = Redis.from_url(redis_url, socket_timeout=5)
    try:
        # The bench's own stack made the topics with the stack's partition count.
        partitions = [TopicPartition(t, p) for t in TOPICS for p in range(DEFAULT_PARTITIONS)]
        yield Probe(kafka, redis, partitions, admin)
    finally:
        await redis.aclose()
        await admin.close()
        await kafka.stop()
