"""The bridge commits a batch only once its dead letters and jobs are safe.

And a rebalance waits for the batch in hand. The fakes write what happens, in order, to
one list; each test reads that list.
"""

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from northbridge_bridge import consume
from northbridge_bridge.consume import Bridge, HandOver, StoppedError
from northbridge_bridge.dead_letter import DeadLetter
from northbridge_bridge.enqueue import Plan
from northbridge_bridge.records import Accepted
from northbridge_bridge.settings import BridgeSettings
from northbridge_shared.heartbeat import Heartbeat

TP = TopicPartition("north-updates", 0)
GOOD = b'{"name": "ada", "loc": "london"}'
BAD = b"{not json"


def record(offset: int, value: bytes) -> Any:
    """A real aiokafka record, as a poll returns it."""
    return ConsumerRecord(
        topic=TP.topic,
        partition=TP.partition,
        offset=offset,
        timestamp=1_764_979_200_000 + offset,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=-1,
        serialized_value_size=len(value),
        headers=[],
    )


class FakeConsumer:
    """Owns TP; notes each commit. A commit waits for ``gate`` while it is clear."""

    def __init__(self, trail: list[str], batch: dict[TopicPartition, list[Any]]) -> None:
        self.trail = trail
        self.commits: list[dict[TopicPartition, int]] = []
        self.committing = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self._batches = [batch]
        self.stopping = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.trail.append("commit started")
        self.committing.set()
        await self.gate.wait()
        self.commits.append(offsets)
        self.trail.append("commit")

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[Any]]:
        """The batch once; then an empty poll that asks the bridge to stop."""
        if self._batches:
            return self._batches.pop()
        self.stopping.set()
        return {}

    async def committed(self, _: TopicPartition) -> int | None:
        return None

    def highwater(self, _: TopicPartition) -> int | None:
        return None


class FakeProducer:
    """Kafka acknowledges a dead letter when its future is awaited; ``failures`` come first."""

    def __init__(self, trail: list[str], failures: int = 0) -> None:
        self.trail = trail
        self._failures = failures
        self._offset = 0

    async def send(self, topic: str, **_: Any) -> Awaitable[RecordMetadata]:
        self.trail.append("dead letter sent")
        return self._acknowledge(topic)

    async def _acknowledge(self, topic: str) -> RecordMetadata:
        await asyncio.sleep(0)  # the broker answers later, not within send()
        if self._failures:
            self._failures -= 1
            self.trail.append("dead letter failed")
            raise KafkaTimeoutError
        self.trail.append("dead letter acknowledged")
        self._offset += 1
        return RecordMetadata(topic, 0, TopicPartition(topic, 0), self._offset, None, 0, None)


class FakeEnqueuer:
    """Plans every accepted record as new; its write fails ``failures`` times first."""

    def __init__(self, trail: list[str], failures: int = 0) -> None:
        self.trail = trail
        self._failures = failures
        self.written: list[tuple[list[Accepted], list[DeadLetter]]] = []

    def plan(self, accepted: list[Accepted]) -> Plan:
        return Plan(fresh=list(accepted))

    def write(self, fresh: list[Accepted], dead: list[DeadLetter]) -> None:
        if self._failures:
            self._failures -= 1
            self.trail.append("write failed")
            raise RedisConnectionError("down")
        self.written.append((fresh, dead))
        self.trail.append("jobs written")


def build(
    tmp_path: Path,
    trail: list[str],
    batch: dict[TopicPartition, list[Any]],
    *,
    write_failures: int = 0,
    send_failures: int = 0,
) -> tuple[Bridge, FakeConsumer, FakeEnqueuer]:
    consumer = FakeConsumer(trail, batch)
    enqueuer = FakeEnqueuer(trail, write_failures)
    producer = FakeProducer(trail, send_failures)
    heartbeat = Heartbeat(tmp_path / "alive")
    faked: Any = enqueuer
    return Bridge(consumer, producer, faked, BridgeSettings(), heartbeat), consumer, enqueuer


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([GOOD, GOOD], ["jobs written", "commit started", "commit"]),
        (
            [BAD],
            [
                "dead letter sent",
                "dead letter acknowledged",
                "jobs written",  # the dead letter's receipt
                "commit started",
                "commit",
            ],
        ),
        (
            [GOOD, BAD, GOOD],
            [
                "dead letter sent",
                "dead letter acknowledged",
                "jobs written",
                "commit started",
                "commit",
            ],
        ),
    ],
    ids=["jobs", "dead-letter", "both"],
)
def test_commit_comes_after_dead_letters_and_jobs(
    tmp_path: Path, values: list[bytes], expected: list[str]
) -> None:
    """The commit starts only after Kafka acknowledged the dead letters and Redis the jobs."""
    trail: list[str] = []
    batch = {TP: [record(10 + i, value) for i, value in enumerate(values)]}
    bridge, consumer, enqueuer = build(tmp_path, trail, batch)
    asyncio.run(bridge._process(batch, asyncio.Event()))
    assert trail == expected
    assert consumer.commits == [{TP: 10 + len(values)}]
    [(fresh, dead)] = enqueuer.written
    assert len(fresh) == values.count(GOOD)
    assert len(dead) == values.count(BAD)


def test_failed_write_is_retried_before_the_commit(tmp_path: Path) -> None:
    """Redis refuses the jobs twice: no commit until the third write went through."""
    trail: list[str] = []
    batch = {TP: [record(7, GOOD)]}
    bridge, consumer, _ = build(tmp_path, trail, batch, write_failures=2)
    asyncio.run(bridge._process(batch, asyncio.Event()))
    assert trail == ["write failed", "write failed", "jobs written", "commit started", "commit"]
    assert consumer.commits == [{TP: 8}]


def test_failed_dead_letter_is_retried_before_the_commit(tmp_path: Path) -> None:
    """Kafka fails a dead letter: no commit until a resend was acknowledged and written."""
    trail: list[str] = []
    batch = {TP: [record(7, BAD)]}
    bridge, consumer, _ = build(tmp_path, trail, batch, send_failures=1)
    asyncio.run(bridge._process(batch, asyncio.Event()))
    assert trail == [
        "dead letter sent",
        "dead letter failed",
        "dead letter sent",
        "dead letter acknowledged",
        "jobs written",
        "commit started",
        "commit",
    ]
    assert consumer.commits == [{TP: 8}]


def test_batch_abandoned_at_shutdown_is_not_committed(tmp_path: Path) -> None:
    """Shutdown while Redis refuses the jobs: the batch stays uncommitted, to be re-read."""
    trail: list[str] = []
    batch = {TP: [record(7, GOOD)]}
    bridge, consumer, _ = build(tmp_path, trail, batch, write_failures=1)
    stopping = asyncio.Event()
    stopping.set()
    with pytest.raises(StoppedError):
        asyncio.run(bridge._process(batch, stopping))
    assert trail == ["write failed"]
    assert consumer.commits == []


async def turns(count: int = 10) -> None:
    """Let every ready task run ``count`` times; no time passes."""
    for _ in range(count):
        await asyncio.sleep(0)


def test_hand_over_waits_for_the_busy_lock() -> None:
    """A revoke returns only once the bridge lets go of its batch lock."""

    async def scenario() -> None:
        busy = asyncio.Lock()
        await busy.acquire()
        revoking = asyncio.create_task(HandOver(busy).on_partitions_revoked({TP}))
        await turns()
        assert not revoking.done(), "the revoke returned while the batch lock was held"
        busy.release()
        await revoking
        assert not busy.locked()  # it waited for the lock, and gave it back

    asyncio.run(scenario())


def test_hand_over_waits_for_the_commit_of_the_batch_in_hand(tmp_path: Path) -> None:
    """A revoke while the bridge commits returns after the commit, not before."""
    trail: list[str] = []
    bridge, consumer, _ = build(tmp_path, trail, {TP: [record(3, GOOD)]})
    consumer.gate.clear()  # the commit waits until the test lets it through

    async def scenario() -> None:
        running = asyncio.create_task(bridge.run(consumer.stopping))
        await consumer.committing.wait()
        revoking = asyncio.create_task(HandOver(bridge.busy).on_partitions_revoked({TP}))
        await turns()
        assert not revoking.done(), "the revoke returned while the batch was committing"
        consumer.gate.set()
        await revoking
        trail.append("revoked")
        await running

    asyncio.run(scenario())
    assert trail == ["jobs written", "commit started", "commit", "revoked"]


def test_stuck_batch_does_not_hold_the_rebalance_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past HAND_OVER_WAIT_S the revoke returns without the lock; the batch keeps it."""
    monkeypatch.setattr(consume, "HAND_OVER_WAIT_S", 0.01)

    async def scenario() -> None:
        busy = asyncio.Lock()
        await busy.acquire()
        async with asyncio.timeout(5):  # a deadline for the test, far above 0.01 s
            await HandOver(busy).on_partitions_revoked({TP})
        assert busy.locked()
        busy.release()

    asyncio.run(scenario())
