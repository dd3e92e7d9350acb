"""Records that cannot become jobs go to ``<topic>.dlq``, with the reason in a header.

A dead letter keeps the record's key, value and headers and adds why (``error``), where it
was (``original-topic``, ``-partition``, ``-offset``) and the id its receipt is under
(``dead-letter-event-id``), which ``northbridge dlq replay`` gives the replayed record.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError

from northbridge_bridge.records import Rejected
from northbridge_shared.contracts import (
    DEAD_LETTER_ID_HEADER,
    ERROR_HEADER,
    ORIGIN_HEADER_PREFIX,
    VALUE_DROPPED_HEADER,
    dead_letter_topic,
)

MAX_REASON = 1000


@dataclass(frozen=True)
class DeadLetter:
    """A rejected record and where Kafka put its dead letter."""

    rejected: Rejected
    topic: str
    partition: int
    offset: int


def dead_letter_headers(rejected: Rejected) -> list[tuple[str, bytes | None]]:
    """The record's own headers plus where it came from and why it was refused."""
    record = rejected.record
    origin = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    return [
        *record.headers,
        (ERROR_HEADER, rejected.reason[:MAX_REASON].encode()),
        (DEAD_LETTER_ID_HEADER, rejected.receipt_id.encode()),
        *((ORIGIN_HEADER_PREFIX + name, str(value).encode()) for name, value in origin.items()),
    ]


async def send_dead_letters(producer: Any, rejected: list[Rejected]) -> list[DeadLetter]:
    """Publish every rejected record and wait until Kafka acknowledged all of them."""
    placed = await asyncio.gather(*[await _send(producer, r) for r in rejected])
    return [
        DeadLetter(r, meta.topic, meta.partition, meta.offset)
        for r, meta in zip(rejected, placed, strict=True)
    ]


async def _send(producer: Any, rejected: Rejected) -> Any:
    record, headers = rejected.record, dead_letter_headers(rejected)
    topic = dead_letter_topic(record.topic)
    # aiokafka refuses a record with neither key nor value; the DLQ copy gets an empty value.
    value = record.value if record.value is not None or record.key is not None else b""
    try:
        return await producer.send(topic, value=value, key=record.key, headers=headers)
    except MessageSizeTooLargeError:
        # The original fitted its topic, but not with our headers added: keep the evidence
        # (key, headers, position, reason) rather than retry a send that can never succeed.
        dropped = (VALUE_DROPPED_HEADER, str(len(record.value or b"")).encode())
        return await producer.send(topic, value=b"", key=record.key, headers=[*headers, dropped])
