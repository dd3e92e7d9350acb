"""Of two records with one id in one batch, the one written first is the event."""

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from redis import Redis

from northbridge_bridge.enqueue import Enqueuer
from northbridge_bridge.records import Accepted, decode
from northbridge_shared.contracts import SOUTH_TOPIC
from northbridge_shared.settings import BridgeSettings, JobSettings

OWN_DB = 10  # the suite's workers watch db 0


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = field(default_factory=list)


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    base, _, _ = redis_url.rpartition("/")
    client = Redis.from_url(f"{base}/{OWN_DB}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def accepted(partition: int, written_at: int, name: str) -> Accepted:
    body = json.dumps({"name": name, "loc": "x"}).encode()
    record = FakeRecord(SOUTH_TOPIC, partition, 0, written_at, b"k", body, [("event-id", b"e-1")])
    item = decode(record, BridgeSettings().routes)
    assert isinstance(item, Accepted)
    return item


def test_the_earlier_record_wins_whatever_its_partitions_place_in_the_batch(
    redis: Redis,
) -> None:
    now = int(time.time() * 1000)
    original, forged = accepted(5, now, "original"), accepted(2, now + 50, "forged")
    plan = Enqueuer(redis, JobSettings(), 3600).plan([forged, original])  # partition 2 first
    assert plan.fresh == [original]
    assert plan.conflicts == [forged]
