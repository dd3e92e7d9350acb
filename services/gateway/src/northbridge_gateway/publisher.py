"""The gateway's one Kafka producer per worker process, with every wait bounded.

aiokafka's ``send`` waits for metadata and delivery without a deadline of its own
(a broker that is down makes it retry for as long as it likes), so each publish runs
under ``asyncio.timeout``: the caller gets an answer, 202 or 503, in bounded time.

A producer can break for good while its connection looks fine: when its background sender
task ends (cancelled, or an unexpected error), sends queue up unsent and time out, yet
metadata requests still succeed; after OutOfOrderSequenceNumber or UnknownProducerId its
idempotence state is spoiled for that partition. Such a producer is replaced (a new one gets a
new producer id), so neither every POST answers 503 nor ``/readyz`` 200 while they do.
aiokafka has no public health check; :func:`is_alive` reads its sender task, hence the pin.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerIdMapping,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)

log = structlog.get_logger(__name__)

# After these the producer's id and sequence numbers are useless; a new producer starts over.
SPOILED = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerIdMapping,
    ProducerFenced,
    ProducerClosed,
)


def is_alive(producer: Any) -> bool:
    """Whether the producer can still send: not closed, its sender task running."""
    task = producer._sender.sender_task  # aiokafka 0.14: no public way to ask
    return not producer._closed and task is not None and not task.done()


class KafkaUnavailableError(Exception):
    """Kafka did not acknowledge in time; the event may or may not have been written."""


@dataclass(frozen=True)
class Placement:
    """Where Kafka put an event."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int  # when the record was written, as Kafka stores it


class Publisher:
    """Publishes events; (re)connects on demand so the gateway outlives a Kafka outage."""

    def __init__(self, kafka: dict[str, Any], timeout_s: float, linger_ms: int) -> None:
        self._kafka = kafka  # KafkaSettings.client_options(): where, and with what credentials
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._producer: Any = None
        self._starting = asyncio.Lock()
        self._stopping: set[asyncio.Task[None]] = set()

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Placement:
        """Send one record and wait for ``acks=all``, or raise :class:`KafkaUnavailableError`."""
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._started()
                meta = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except (TimeoutError, KafkaError, OSError) as error:
            if isinstance(error, SPOILED):
                self._discard(error)
            raise KafkaUnavailableError(
                f"Kafka did not acknowledge within {self._timeout_s}s"
            ) from error
        stamp = meta.timestamp if meta.timestamp is not None and meta.timestamp >= 0 else None
        return Placement(
            topic=meta.topic,
            partition=meta.partition,
            offset=meta.offset,
            timestamp_ms=stamp or int(time.time() * 1000),
        )

    async def ready(self) -> bool:
        """Whether this process can publish now: a live producer, and a broker that answers."""
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._started()  # replaces a producer that died
                return bool(await producer.client.force_metadata_update()) and is_alive(producer)
        except (TimeoutError, KafkaError, OSError):
            return False

    async def start(self) -> None:
        """Connect at startup when possible; an unreachable Kafka is retried per request."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._started()
        except (TimeoutError, KafkaError, OSError) as error:
            log.warning("kafka_unreachable_at_start", error=repr(error))

    async def close(self, timeout_s: float) -> None:
        """Flush what is in flight, within ``timeout_s``: stop() waits forever on a dead broker."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await producer.stop()
        except TimeoutError:
            log.warning("producer_flush_timed_out", timeout_s=timeout_s)

    async def _started(self) -> Any:
        producer = self._producer
        if producer is not None and is_alive(producer):  # the hot path: no lock
            return producer
        async with self._starting:
            if self._producer is not None and not is_alive(self._producer):
                self._discard(RuntimeError("the producer's sender task has ended"))
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self._kafka,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=self._linger_ms,
                    request_timeout_ms=int(self._timeout_s * 1000),
                )
                try:
                    await producer.start()
                except BaseException:
                    # A producer whose start failed cannot be restarted; drop it and retry later.
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    def _discard(self, reason: BaseException) -> None:
        """Drop the current producer (the next publish makes a new one); stop it meanwhile."""
        broken, self._producer = self._producer, None
        if broken is None:
            return
        log.warning("kafka_producer_replaced", reason=repr(reason))
        stopping = asyncio.get_running_loop().create_task(self._stop(broken))
        self._stopping.add(stopping)  # a reference, or the task may vanish mid-way
        stopping.add_done_callback(self._stopping.discard)

    async def _stop(self, producer: Any) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await producer.stop()
        except (TimeoutError, KafkaError, OSError) as error:
            log.warning("kafka_producer_stop_failed", error=repr(error))
