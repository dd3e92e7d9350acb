"""The gateway's publisher replaces a producer that can no longer send; readiness tells it."""

import asyncio
import contextlib

from northbridge_gateway.publisher import Publisher
from northbridge_shared.contracts import NORTH_TOPIC

from .conftest import Pipeline

EVENT = b'{"name": "ada", "loc": "publisher"}'


def test_a_producer_whose_sender_died_is_replaced(pipeline: Pipeline) -> None:
    """Sender task gone: /readyz's check still answers truly, and the next publish lands."""

    async def scenario() -> tuple[bool, int]:
        kafka = {"bootstrap_servers": pipeline.kafka.bootstrap_servers}
        publisher = Publisher(kafka, timeout_s=3, linger_ms=0)
        await publisher.start()
        try:
            await publisher.publish(NORTH_TOPIC, b"k", EVENT, [])
            # What an unexpected error in aiokafka's background sender leaves behind.
            sender = publisher._producer._sender.sender_task
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender  # ended: it returns once its in-flight requests are done
            ready = await publisher.ready()
            placed = await publisher.publish(NORTH_TOPIC, b"k", EVENT, [])
            return ready, placed.offset
        finally:
            await publisher.close(5)

    ready, offset = asyncio.run(scenario())
    assert ready
    assert offset >= 1
