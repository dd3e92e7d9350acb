"""The gateway's one Kafka producer per worker process, with every wait bounded.

aiokafka's ``send`` waits for metadata and delivery without a deadline of its own
(a broker that is down makes it retry for as long as it likes), so each publish runs
under ``asyncio.timeout``: the caller gets an answer, 202 or 503, in bounded time.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

log = structlog.get_logger(__name__)


class KafkaUnavailableError(Exception):
    """Kafka did not acknowledge in time; the event may or may not have been written."""


@dataclass(frozen=True)
class Placement:
    """Where Kafka put an event."""

    topic: str
    partition: int
    offset: int


class Publisher:
    """Publishes events; (re)connects on demand so the gateway outlives a Kafka outage."""

    def __init__(self, bootstrap_servers: str, timeout_s: float, linger_ms: int) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._timeout_s = timeout_s
        self._linger_ms = linger_ms
        self._producer: Any = None
        self._starting = asyncio.Lock()

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Placement:
        """Send one record and wait for ``acks=all``, or raise :class:`KafkaUnavailableError`."""
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._started()
                meta = await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        except (TimeoutError, KafkaError, OSError) as error:
            raise KafkaUnavailableError(
                f"Kafka did not acknowledge within {self._timeout_s}s"
            ) from error
        return Placement(topic=meta.topic, partition=meta.partition, offset=meta.offset)

    async def ready(self) -> bool:
        """Whether a broker answers a metadata request right now."""
        try:
            async with asyncio.timeout(self._timeout_s):
                producer = await self._started()
                return bool(await producer.client.force_metadata_update())
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
        if self._producer is not None:  # the hot path: no lock once connected
            return self._producer
        async with self._starting:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap_servers,
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
