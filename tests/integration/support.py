"""What the integration tests observe: Kafka offsets, RQ state, mails in Mailpit.

Waiting is always on a condition with a deadline (``wait_for``), never a fixed sleep:
a pipeline is asynchronous, so a test waits until what it expects is observable, and
fails with the reason when it is not.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from northbridge_shared.contracts import BRIDGE_GROUP, NORTH_TOPIC, SOUTH_TOPIC
from northbridge_stack.mailbox import Mail, Mailbox

T = TypeVar("T")
TOPICS = (NORTH_TOPIC, SOUTH_TOPIC)


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def end_offsets(bootstrap: str, topics: tuple[str, ...] = TOPICS) -> dict[TopicPartition, int]:
    """The next offset of every partition of ``topics``."""

    async def read() -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(
                    consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
                )
            ]
            return dict(await consumer.end_offsets(partitions))
        finally:
            await consumer.stop()

    return asyncio.run(read())


async def _partitions(consumer: Any, topic: str) -> set[int]:
    return set(await consumer._client._wait_on_metadata(topic))


def committed_offsets(
    bootstrap: str, partitions: list[TopicPartition], group: str = BRIDGE_GROUP
) -> dict[TopicPartition, int]:
    """What ``group`` (the bridge's) has committed for ``partitions`` (0 when nothing)."""

    async def read() -> dict[TopicPartition, int]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            return {tp: (await consumer.committed(tp)) or 0 for tp in partitions}
        finally:
            await consumer.stop()

    return asyncio.run(read())


def commit_offsets(bootstrap: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for the bridge group (only allowed while no bridge is a member)."""

    async def write() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=BRIDGE_GROUP, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign(list(offsets))
            await consumer.commit(offsets)
        finally:
            await consumer.stop()

    asyncio.run(write())


def group_state(bootstrap: str, group: str = BRIDGE_GROUP) -> str:
    """The consumer group's state as the coordinator reports it: Empty, Stable, ..."""
    return group_members(bootstrap, group)[0]


def group_members(bootstrap: str, group: str = BRIDGE_GROUP) -> tuple[str, int]:
    """The consumer group's state and how many members it has."""

    async def read() -> tuple[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            described = await admin.describe_consumer_groups([group])
        finally:
            await admin.close()
        # DescribeGroups response: groups = [(error_code, group_id, state, ..., members), ...]
        found = described[0].groups[0]
        return str(found[2]), len(found[5])

    return asyncio.run(read())


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record currently in ``topic``, oldest first per partition."""

    async def read() -> list[Any]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            records: list[Any] = []
            positions = [await consumer.position(tp) for tp in parts]
            while any(pos < ends[tp] for pos, tp in zip(positions, parts, strict=True)):
                batch = await consumer.getmany(timeout_ms=1000)
                records += [r for rs in batch.values() for r in rs]
                positions = [await consumer.position(tp) for tp in parts]
            return records
        finally:
            await consumer.stop()

    return asyncio.run(read())


def drained(bootstrap: str, redis: Redis, queues: tuple[str, ...]) -> bool:
    """Every record is committed by the bridge and every job has left the queues.

    A job a worker has taken sits in its queue's intermediate list until it is registered
    as started (see dequeue.py): counted too, or a job in that millisecond looks done.
    """
    ends = end_offsets(bootstrap)
    if committed_offsets(bootstrap, list(ends)) != ends:
        return False
    for name in queues:
        queue = Queue(name, connection=redis)
        busy = (
            len(queue),
            redis.llen(queue.intermediate_queue_key),
            StartedJobRegistry(queue=queue).count,
            ScheduledJobRegistry(queue=queue).count,  # type: ignore[no-untyped-call]
        )
        if any(busy):
            return False
    return True


def mails_with_id(mailbox: Mailbox, event_id: str) -> list[Mail]:
    """Mails in Mailpit whose Message-ID carries ``event_id``."""
    return mailbox.with_id(event_id)


def wait_for_mail(mailbox: Mailbox, event_id: str, timeout: float = 30) -> list[Mail]:
    """Wait until the mail for ``event_id`` is in Mailpit."""
    return wait_for(lambda: mailbox.with_id(event_id), timeout=timeout, what="the mail")


def mails_about(mailbox: Mailbox, name: str) -> list[Mail]:
    """Mails in Mailpit whose subject names ``name`` (for events with unknown ids)."""
    return mailbox.about(name)


def produce(
    bootstrap: str,
    topic: str,
    value: bytes,
    key: bytes | None = None,
    headers: list[tuple[str, bytes]] | None = None,
) -> tuple[int, int]:
    """Write one record as any producer may (no key, no headers by default); its position."""

    async def send() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            meta = await producer.send_and_wait(topic, value=value, key=key, headers=headers or [])
        finally:
            await producer.stop()
        return meta.partition, meta.offset

    return asyncio.run(send())
