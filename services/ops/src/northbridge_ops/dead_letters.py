"""Read a dead-letter topic, and replay its records through the normal path.

A replay publishes the dead letter's key and value (or a fixed value) to the topic it came
from, with the id its receipt is under as ``event-id``. So the bridge treats it as the event
it always was: a fixed record becomes one job and one mail however often it is replayed (the
id is bound to its body), and a record that is still bad is dead-lettered once more, where it
stays until someone replays it again. Nothing replays by itself, so nothing loops.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from redis import Redis

from northbridge_shared import receipts
from northbridge_shared.contracts import (
    DEAD_LETTER_ID_HEADER,
    DLQ_SUFFIX,
    ERROR_HEADER,
    EVENT_ID_HEADER,
    ORIGIN_HEADER_PREFIX,
    REPLAYED_FROM_HEADER,
    VALUE_DROPPED_HEADER,
    dead_letter_topic,
)
from northbridge_shared.identity import derived_event_id
from northbridge_shared.receipts import Hop

# A whole read of a dead-letter topic, at most (Kafka gone mid-read must not hang a command).
READ_TIMEOUT_S = 60.0
# What a replay leaves out of a dead letter's headers: the bridge's notes, not the record's.
BRIDGE_HEADERS = (ERROR_HEADER, DEAD_LETTER_ID_HEADER, EVENT_ID_HEADER, VALUE_DROPPED_HEADER)


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]

    def header(self, name: str) -> str | None:
        """A header's value as text, None if absent."""
        for key, value in self.headers:
            if key == name and value is not None:
                return value.decode(errors="replace")
        return None

    @property
    def position(self) -> str:
        """``<topic>/<partition>/<offset>``: where this dead letter is."""
        return f"{self.topic}/{self.partition}/{self.offset}"

    @property
    def source(self) -> str:
        """The topic the record was refused on."""
        return self.header(ORIGIN_HEADER_PREFIX + "topic") or self.topic.removesuffix(DLQ_SUFFIX)

    @property
    def reason(self) -> str:
        """Why the bridge refused it."""
        return self.header(ERROR_HEADER) or "(no reason recorded)"

    @property
    def event_id(self) -> str:
        """The id its receipt is under, and its replay carries."""
        named = self.header(DEAD_LETTER_ID_HEADER)
        if named:
            return named
        # Dead letters written before the header existed: the record's position id.
        origin = [self.header(ORIGIN_HEADER_PREFIX + part) for part in ("partition", "offset")]
        partition, offset = (int(part or -1) for part in origin)
        return derived_event_id(self.source, partition, offset)

    @property
    def replayable(self) -> bool:
        """False when the bridge had to drop the value (too large with its headers)."""
        return self.header(VALUE_DROPPED_HEADER) is None

    @property
    def at(self) -> datetime:
        """When it was dead-lettered (the epoch if its timestamp is unreadable)."""
        return receipts.kafka_time(self.timestamp_ms) or datetime.fromtimestamp(0, UTC)

    def describe(self, value_chars: int | None = None) -> dict[str, Any]:
        """What ``dlq list --json`` and the dashboard show; the value cut to ``value_chars``."""
        value = (self.value or b"").decode(errors="replace")
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "at": receipts.iso(self.at),
            "event_id": self.event_id,
            "source": self.source,
            "reason": self.reason,
            "value": value[:value_chars],
            "replayable": self.replayable,
            "headers": {k: (v or b"").decode(errors="replace") for k, v in self.headers},
        }


@dataclass(frozen=True)
class Selection:
    """Which dead letters: all, or those within a time window, or at given positions."""

    since: datetime | None = None
    until: datetime | None = None
    offsets: frozenset[tuple[int, int]] = frozenset()  # (partition, offset)

    def wants(self, letter: DeadLetter) -> bool:
        """Whether ``letter`` is selected."""
        if self.offsets and (letter.partition, letter.offset) not in self.offsets:
            return False
        if self.since and letter.at < self.since:
            return False
        return not (self.until and letter.at >= self.until)


def dlq_of(topic: str) -> str:
    """The dead-letter topic of ``topic``, which may name the dead-letter topic itself."""
    return topic if topic.endswith(DLQ_SUFFIX) else dead_letter_topic(topic)


async def read(
    bootstrap: str, topic: str, selection: Selection = Selection(), *, last: int | None = None
) -> list[DeadLetter]:
    """The selected dead letters of ``topic``, oldest first per partition; [] if none.

    ``last`` reads only that many of each partition's newest (the dashboard's view); given
    offsets are read by seeking to them. Kafka going away mid-read is a TimeoutError after
    :data:`READ_TIMEOUT_S`, not a hang.
    """
    async with asyncio.timeout(READ_TIMEOUT_S):
        return await _read(bootstrap, dlq_of(topic), selection, last)


async def _read(
    bootstrap: str, dlq: str, selection: Selection, last: int | None
) -> list[DeadLetter]:
    wanted = {p: {o for q, o in selection.offsets if q == p} for p, _ in selection.offsets}
    numbers = [p for p in await _partitions(bootstrap, dlq) if not wanted or p in wanted]
    partitions = [TopicPartition(dlq, p) for p in numbers]
    if not partitions:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            first = await consumer.position(tp)  # the oldest offset Kafka still keeps
            offsets = wanted.get(tp.partition)
            if offsets:
                first, ends[tp] = max(first, min(offsets)), min(ends[tp], max(offsets) + 1)
            elif last is not None:
                first = max(first, ends[tp] - last)
            consumer.seek(tp, first)
        letters: list[DeadLetter] = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                letters += [_letter(r) for r in batch.get(tp, []) if r.offset < ends[tp]]
        return [letter for letter in letters if selection.wants(letter)]
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Replayed:
    """A dead letter sent through again, and where Kafka put it."""

    letter: DeadLetter
    topic: str
    partition: int
    offset: int


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The record's own headers, its id as event-id, and where the replay came from."""
    own = [
        (name, value or b"")
        for name, value in letter.headers
        if name not in BRIDGE_HEADERS
        and not name.startswith(ORIGIN_HEADER_PREFIX)
        and name != REPLAYED_FROM_HEADER
    ]
    return [
        *own,
        (EVENT_ID_HEADER, letter.event_id.encode()),
        (REPLAYED_FROM_HEADER, letter.position.encode()),
    ]


async def replay(
    bootstrap: str,
    letters: Sequence[DeadLetter],
    *,
    value: bytes | None = None,
    on_sent: Callable[[Replayed], None] = lambda _: None,
) -> list[Replayed]:
    """Publish each of ``letters`` (with ``value`` instead of its own, if given) to its topic."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    try:
        await producer.start()
        done = []
        for letter in letters:
            meta: Any = await producer.send_and_wait(
                letter.source,
                key=letter.key,
                value=letter.value if value is None else value,
                headers=replay_headers(letter),
            )
            replayed = Replayed(letter, meta.topic, meta.partition, meta.offset)
            on_sent(replayed)
            done.append(replayed)
        return done
    finally:
        await producer.stop()


def note_replayed(redis: Redis, replayed: Replayed, ttl_s: int) -> None:
    """The replay, as a hop of its event's receipt and in the ledger."""
    facts: dict[str, Any] = {
        "from": replayed.letter.position,
        "topic": replayed.topic,
        "partition": replayed.partition,
        "offset": replayed.offset,
    }
    with redis.pipeline(transaction=False) as pipe:
        event_id, topic = replayed.letter.event_id, replayed.topic
        receipts.note(pipe, event_id, Hop.REPLAYED, ttl_s, ledger=topic, **facts)
        pipe.execute()


async def _partitions(bootstrap: str, topic: str) -> list[int]:
    """The partitions of ``topic``; none if it does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"]:  # UNKNOWN_TOPIC_OR_PARTITION: nothing was dead-lettered yet
        return []
    return sorted(p["partition"] for p in described["partitions"])


def _letter(record: Any) -> DeadLetter:
    return DeadLetter(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp_ms=record.timestamp,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers),
    )
