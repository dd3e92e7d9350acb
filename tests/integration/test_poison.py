"""Hostile records go to the dead-letter topic; none of them stops the bridge."""

import asyncio
import uuid

from aiokafka import AIOKafkaProducer

from northbridge_shared.contracts import NORTH_TOPIC, dead_letter_topic

from .conftest import Pipeline
from .support import mails_about, read_topic, wait_for

# Just under the broker's default message.max.bytes: it fits north-updates, but its
# dead-letter copy, with the error headers added, does not fit the DLQ.
HUGE = 1_048_400


def write(
    bootstrap: str, records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]]
) -> None:
    """Produce raw records, as a careless or hostile producer might."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * HUGE)
        await producer.start()
        try:
            for key, value, headers in records:
                await producer.send_and_wait(NORTH_TOPIC, value=value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_hostile_records_are_dead_lettered_and_the_next_one_flows(pipeline: Pipeline) -> None:
    """Too big for the DLQ, a null event-id, a tombstone, a bad id: all parked, none fatal."""
    marker = uuid.uuid4().hex
    good = f"after-hostile-{marker}"
    key = marker.encode()
    write(
        pipeline.kafka.bootstrap_servers,
        [
            (key, b"x" * HUGE, []),
            (key, b'{"name": "n", "loc": "l"}', [("event-id", None)]),
            (key, None, []),
            (key, b'{"name": "n", "loc": "l"}', [("event-id", b"order.42")]),
            (key, f'{{"name": "{good}", "loc": "x"}}'.encode(), []),
        ],
    )
    wait_for(lambda: mails_about(pipeline.maildir, good), timeout=30, what="the good mail")
    dead = [
        r
        for r in read_topic(pipeline.kafka.bootstrap_servers, dead_letter_topic(NORTH_TOPIC))
        if r.key == key
    ]
    assert len(dead) == 4
    reasons = [dict(r.headers)["error"].decode() for r in dead]
    assert "JSON" in reasons[0]
    assert dict(dead[0].headers)["value-dropped-bytes"] == str(HUGE).encode()
    assert dead[0].value == b""
    assert "event-id" in reasons[1]
    assert "no value" in reasons[2]
    assert "event-id" in reasons[3]
