"""The gateway's part of the receipts: it notes each acceptance and answers ``GET /v1/events/{id}``.

The accepted hop is written in the background, batched into one pipeline per burst, after
the 202: the answer never waits for Redis, and a Redis outage costs receipts, not requests.
What is lost that way the bridge writes when it reads the record (the same hop from the
record's own timestamp and position), so only the receipt's first milliseconds depend on it.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError

from northbridge_gateway.problems import Handler, Refusal
from northbridge_gateway.publisher import Placement
from northbridge_shared import receipts
from northbridge_shared.identity import is_derived_id, is_idempotency_key
from northbridge_shared.receipts import Hop

log = structlog.get_logger(__name__)

# Acceptances waiting for Redis; past this (a long Redis outage) new ones are dropped.
BACKLOG = 10_000
BATCH = 500

Acceptance = tuple[str, Placement, str | None]  # event id, where it landed, who posted it


class Acceptances:
    """Notes accepted events in receipts, off the request path."""

    def __init__(self, redis: Redis, ttl_s: int, timeout_s: float) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._waiting: asyncio.Queue[Acceptance] = asyncio.Queue(BACKLOG)
        self._dropped = 0

    def note(self, event_id: str, placed: Placement, client: str | None = None) -> None:
        """Queue the accepted hop of ``event_id`` (posted by ``client``); never blocks."""
        try:
            self._waiting.put_nowait((event_id, placed, client))
        except asyncio.QueueFull:
            self._dropped += 1

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Write notes while the app runs; on the way out, write what is left (bounded).

        The writer is never cancelled in the middle of a batch: it is cancelled only while
        it waits for the next note, once every note has been written.
        """
        writer = asyncio.create_task(self._write_forever())
        try:
            yield
        finally:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._timeout_s * 2):
                    await self._waiting.join()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._waiting.get(), *self._take(BATCH - 1)]
            try:
                await self._write(batch)
            except Exception:
                log.exception("receipts_not_written", hop="accepted", count=len(batch))
            finally:
                for _ in batch:
                    self._waiting.task_done()

    def _take(self, most: int = BACKLOG) -> list[Acceptance]:
        taken: list[Acceptance] = []
        while len(taken) < most and not self._waiting.empty():
            taken.append(self._waiting.get_nowait())
        return taken

    async def _write(self, notes: list[Acceptance]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        accepted = [
            receipts.Note(
                event_id,
                Hop.ACCEPTED,
                ledger=placed.topic,
                at=receipts.from_kafka(placed.timestamp_ms),
                facts={
                    "topic": placed.topic,
                    "partition": placed.partition,
                    "offset": placed.offset,
                    **({} if client is None else {"client": client}),
                },
            )
            for event_id, placed, client in notes
        ]
        receipts.note_all(pipe, accepted, self._ttl_s)
        try:
            async with asyncio.timeout(self._timeout_s):
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as error:
            # The bridge notes them as it reads the records; only the early view is lost.
            log.warning("receipts_not_written", hop="accepted", count=len(notes), error=repr(error))
        if self._dropped:
            log.warning(
                "receipts_not_written", hop="accepted", count=self._dropped, error="backlog full"
            )
            self._dropped = 0


def receipt_of(redis: Redis, timeout_s: float, retry_after_s: int) -> Handler:
    """``GET /v1/events/{event_id}``: the event's hops, 404 if none are known."""

    async def handle(request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        if not (is_idempotency_key(event_id) or is_derived_id(event_id)):
            raise Refusal(404, f"{event_id!r} is not an event id: no event can have it")
        try:
            async with asyncio.timeout(timeout_s):
                fields = await redis.hgetall(receipts.receipt_key(event_id))
        except (RedisError, OSError, TimeoutError):
            detail = "receipts cannot be read right now (Redis did not answer)"
            raise Refusal(503, detail, headers={"Retry-After": str(retry_after_s)}) from None
        if not fields:
            detail = (
                f"no receipt for event {event_id}: not accepted, not yet noted,"
                " or older than RECEIPT_TTL_S"
            )
            raise Refusal(404, detail)
        return web.json_response(receipts.receipt(event_id, fields))

    return handle
