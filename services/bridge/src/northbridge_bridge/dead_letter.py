"""Records that cannot become jobs go to ``<topic>.dlq``, with the reason in a header."""

import asyncio
from typing import Any

from northbridge_bridge.records import Rejected
from northbridge_shared.contracts import ERROR_HEADER, ORIGIN_HEADER_PREFIX, dead_letter_topic

MAX_REASON = 1000


def dead_letter_headers(rejected: Rejected) -> list[tuple[str, bytes]]:
    """The record's own headers plus where it came from and why it was refused."""
    record = rejected.record
    origin = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    return [
        *record.headers,
        (ERROR_HEADER, rejected.reason[:MAX_REASON].encode()),
        *((ORIGIN_HEADER_PREFIX + name, str(value).encode()) for name, value in origin.items()),
    ]


async def send_dead_letters(producer: Any, rejected: list[Rejected]) -> None:
    """Publish every rejected record and wait until Kafka acknowledged all of them."""
    deliveries = [
        await producer.send(
            dead_letter_topic(r.record.topic),
            value=r.record.value,
            key=r.record.key,
            headers=dead_letter_headers(r),
        )
        for r in rejected
    ]
    await asyncio.gather(*deliveries)
