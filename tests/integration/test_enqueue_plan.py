"""Of two records with one id in one batch, the one written first is the event."""

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis import Redis

from northbridge_bridge.enqueue import Enqueuer
from northbridge_bridge.records import Accepted, decode
from northbridge_bridge.settings import BridgeSettings
from northbridge_shared.contracts import SOUTH_TOPIC
from northbridge_shared.settings import JobSettings


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = field(default_factory=list)


def accepted(partition: int, written_at: int, name: str) -> Accepted:
    body = json.dumps({"name": name, "loc": "x"}).encode()
    record = FakeRecord(SOUTH_TOPIC, partition, 0, written_at, b"k", body, [("event-id", b"e-1")])
    item = decode(record, BridgeSettings().routes)
    assert isinstance(item, Accepted)
    return item


def test_the_earlier_record_wins_whatever_its_partitions_place_in_the_batch(
    private_redis: Redis,
) -> None:
    now = int(time.time() * 1000)
    original, forged = accepted(5, now, "original"), accepted(2, now + 50, "forged")
    plan = Enqueuer(private_redis, JobSettings(), 3600).plan(
        [forged, original]
    )  # partition 2 first
    assert plan.fresh == [original]
    assert plan.conflicts == [forged]
