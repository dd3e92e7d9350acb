"""The bridge loop: poll a batch, dead-letter the bad, enqueue the good, then commit.

Offsets are committed only after both the dead letters are acknowledged by Kafka and
the jobs are in Redis, so a crash at any point re-reads (and dedupes) rather than loses.

A poll that raises because aiokafka cannot decode a record does not stop the loop: see
:meth:`Bridge._recover` and :mod:`northbridge_bridge.salvage`.

Every turn of the loop beats the heartbeat (see :mod:`northbridge_shared.heartbeat`): each
poll, empty or not, each attempt at a batch step, and each second of a retry's backoff. So
a bridge retrying through a Redis outage is alive (and logs ``batch_step_failed``), while
one stuck in a single call, or gone, is not.
"""

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from redis.exceptions import RedisError

from northbridge_bridge.dead_letter import DeadLetter, send_dead_letters
from northbridge_bridge.enqueue import Enqueuer, Plan
from northbridge_bridge.metrics import LAG_EVERY_S, BridgeMetrics
from northbridge_bridge.records import Accepted, Record, Rejected, decode
from northbridge_bridge.salvage import UNREADABLE, fetch_raw, salvage
from northbridge_bridge.settings import BridgeSettings
from northbridge_bridge.standby import Standby
from northbridge_shared.heartbeat import EVERY_S, Heartbeat

log = structlog.get_logger(__name__)

T = TypeVar("T")

COMMIT_TIMEOUT_S = 30.0
# How long a rebalance waits for the batch in hand; below aiokafka's max_poll_interval_ms
# (300 s), past which the group would evict this member anyway.
HAND_OVER_WAIT_S = 120.0


class StoppedError(Exception):
    """Shutdown was asked for while a batch could not be finished; it stays uncommitted."""


class Bridge:
    """Moves records from the consumer into RQ until ``stopping`` is set."""

    def __init__(  # noqa: PLR0913 - its collaborators, each given so a test can fake it
        self,
        consumer: Any,
        producer: Any,
        enqueuer: Enqueuer,
        settings: BridgeSettings,
        heartbeat: Heartbeat | None = None,
        *,
        busy: asyncio.Lock | None = None,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._enqueuer = enqueuer
        self._settings = settings
        self._heartbeat = heartbeat or Heartbeat(settings.heartbeat_file)
        # Held for a whole batch; a rebalance waits for it (see HandOver), so a partition's
        # next owner never reads records this bridge is still enqueueing.
        self.busy = busy or asyncio.Lock()
        self._metrics = metrics or BridgeMetrics(settings.group_id)
        self._lag_due = 0.0

    async def run(self, stopping: asyncio.Event) -> None:
        """Process batches until ``stopping`` is set; the current batch is always finished."""
        while not stopping.is_set():
            try:
                batch = await self._poll()
            except UNREADABLE as error:
                log.warning("poll_found_unreadable_record", error=repr(error))
                try:
                    await self._until_done(lambda: self._recover(stopping), stopping)
                except StoppedError:
                    log.warning("recovery_abandoned_at_shutdown")
                    return
                continue
            self._heartbeat.beat()
            await self._measure_lag()
            if batch:
                try:
                    async with self.busy:
                        await self._process(batch, stopping)
                except StoppedError:
                    log.warning("batch_abandoned_at_shutdown", records=_count(batch))
                    return

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now >= self._lag_due:
            self._lag_due = now + LAG_EVERY_S
            await self._metrics.measure_lag(self._consumer)

    async def _poll(self, *partitions: TopicPartition) -> dict[TopicPartition, list[Any]]:
        batch: dict[TopicPartition, list[Any]] = await self._consumer.getmany(
            *partitions,
            timeout_ms=self._settings.poll_timeout_ms,
            max_records=self._settings.batch_size,
        )
        return batch

    async def _recover(self, stopping: asyncio.Event) -> None:
        """Poll one partition at a time to find the one aiokafka cannot read on, and pass it.

        The failed poll may have taken records of other partitions that it never returned,
        so every partition first goes back to its committed offset (records read again are
        deduplicated). Partitions that read fine are processed as usual; the one that raises
        is read raw from its position (see :func:`salvage.salvage`) and moved past the batch
        aiokafka stopped in. Its next poll reads on from there; any further bad batch, in
        this partition or another, makes the next poll raise and comes here again.
        """
        assigned = sorted(self._consumer.assignment())
        for tp in assigned:
            committed = await self._consumer.committed(tp)
            if committed is None:  # as auto_offset_reset="earliest" would
                await self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
        ends = await self._consumer.end_offsets(assigned)
        for tp in assigned:
            self._heartbeat.beat()
            if await self._consumer.position(tp) >= ends[tp]:
                continue  # nothing to read, and a poll would wait for its timeout
            try:
                batch = await self._poll(tp)
            except UNREADABLE:
                await self._pass_unreadable(tp, stopping)
            else:
                if batch:
                    async with self.busy:
                        await self._process(batch, stopping)

    async def _pass_unreadable(self, tp: TopicPartition, stopping: asyncio.Event) -> None:
        position = await self._consumer.position(tp)
        data = await fetch_raw(self._producer.client, tp, position)
        salvaged = salvage(tp, position, data, self._settings.routes)
        log.warning(
            "unreadable_batch_passed",
            topic=tp.topic,
            partition=tp.partition,
            offset=position,
            next_offset=salvaged.next_offset,
            records=len(salvaged.decoded),
        )
        async with self.busy:
            await self._settle(salvaged.decoded, {tp: salvaged.next_offset}, stopping)
        self._consumer.seek(tp, salvaged.next_offset)

    async def _process(
        self, batch: dict[TopicPartition, list[Any]], stopping: asyncio.Event
    ) -> None:
        decoded = [
            decode(record, self._settings.routes)
            for records in batch.values()
            for record in records
        ]
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        await self._settle(decoded, offsets, stopping)

    async def _settle(
        self,
        decoded: list[Accepted | Rejected],
        offsets: dict[TopicPartition, int],
        stopping: asyncio.Event,
    ) -> None:
        """Dead-letter the rejected and conflicting, enqueue the new, then commit ``offsets``."""
        started = time.perf_counter()
        for topic, amount in Counter(d.record.topic for d in decoded).items():
            self._metrics.consumed.labels(topic).inc(amount)
        accepted = [d for d in decoded if isinstance(d, Accepted)]
        rejected = [d for d in decoded if isinstance(d, Rejected)]
        plan = await self._until_done(
            lambda: asyncio.to_thread(self._enqueuer.plan, accepted), stopping
        )
        rejected += [_conflict(item) for item in plan.conflicts]
        for item in plan.duplicates:  # a re-read, or a replay: its job exists already
            log.info("duplicate_event", event_id=item.delivery.event_id, **_position(item.record))
        for r in rejected:
            log.warning("record_dead_lettered", reason=r.reason, **_position(r.record))
        dead: list[DeadLetter] = []
        if rejected:
            dead = await self._until_done(
                lambda: send_dead_letters(self._producer, rejected), stopping
            )
        if plan.fresh or dead:
            await self._until_done(
                lambda: asyncio.to_thread(self._enqueuer.write, plan.fresh, dead), stopping
            )
        self._count(plan, dead)
        self._metrics.batch.observe(time.perf_counter() - started)
        await self._commit(offsets)
        log.info(
            "batch_done",
            records=len(decoded),
            enqueued=len(plan.fresh),
            duplicates=len(plan.duplicates),
            conflicts=len(plan.conflicts),
            dead_lettered=len(rejected),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    def _count(self, plan: Plan, dead: list[DeadLetter]) -> None:
        count = self._metrics.count
        for hop, items in (("enqueued", plan.fresh), ("duplicate", plan.duplicates)):
            for topic, amount in Counter(i.delivery.topic for i in items).items():
                count(topic, hop, amount)
        for topic, amount in Counter(d.rejected.record.topic for d in dead).items():
            count(topic, "dead_lettered", amount)

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        # A partition already handed over would fail the whole commit; keep the others.
        owned = self._consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if not offsets:  # all handed over; aiokafka refuses an empty commit (ValueError)
            log.warning("commit_skipped_partitions_handed_over")
            return
        try:
            # commit() waits for as long as no group coordinator is known; bound it so a
            # shutdown during a Kafka outage still ends. Uncommitted records are re-read.
            async with asyncio.timeout(COMMIT_TIMEOUT_S):
                await self._consumer.commit(offsets)
            self._metrics.committed_offsets(offsets)
        except (KafkaError, TimeoutError) as error:
            # Expected around a rebalance: the partitions' new owner re-reads these records,
            # and enqueue is idempotent on the event id, so nothing is lost or doubled.
            log.warning("commit_failed", error=repr(error), offsets=_describe(offsets))

    async def _until_done(self, step: Callable[[], Awaitable[T]], stopping: asyncio.Event) -> T:
        """Retry ``step`` with capped exponential backoff; a batch is never skipped."""
        delay = 0.1
        while True:
            try:
                result = await step()
            except (KafkaError, RedisError, OSError, TimeoutError) as error:
                self._heartbeat.beat()  # failing and retrying is alive
                if stopping.is_set():
                    raise StoppedError from error
                log.warning("batch_step_failed", error=repr(error), retry_in_s=delay)
                await self._back_off(delay, stopping)
                delay = min(delay * 2, self._settings.retry_backoff_max_s)
            else:
                self._heartbeat.beat()
                return result

    async def _back_off(self, delay: float, stopping: asyncio.Event) -> None:
        """Wait ``delay`` seconds or until shutdown, beating the heartbeat meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while not stopping.is_set() and (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):  # woken early by shutdown
                await asyncio.wait_for(stopping.wait(), timeout=min(left, EVERY_S))
            self._heartbeat.beat()


class HandOver(ConsumerRebalanceListener):  # type: ignore[misc]
    """Give partitions back only after the batch in hand is enqueued and committed."""

    def __init__(self, busy: asyncio.Lock, standby: Standby | None = None) -> None:
        self._busy = busy  # the bridge's: held while it works on a batch
        self._standby = standby

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Wait for the current batch; aiokafka holds the rebalance until this returns."""
        try:
            async with asyncio.timeout(HAND_OVER_WAIT_S), self._busy:
                pass
        except TimeoutError:
            # The batch is stuck (Redis down?); its records may be enqueued by two bridges,
            # and the worker's send record still keeps it to one mail.
            log.warning("hand_over_timed_out", waited_s=HAND_OVER_WAIT_S)
        log.info("partitions_revoked", partitions=_names(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Log the partitions this bridge now reads, and whether it has none (a standby)."""
        log.info("partitions_assigned", partitions=_names(assigned))
        if self._standby is not None:
            self._standby.assigned(assigned)


def _conflict(item: Accepted) -> Rejected:
    reason = (
        f"conflict: event id {item.delivery.event_id} is bound to another event"
        " (another body or topic)"
    )
    return Rejected(item.record, reason)


def _position(record: Record) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


def _names(partitions: set[TopicPartition]) -> list[str]:
    return sorted(f"{p.topic}/{p.partition}" for p in partitions)


def _count(batch: dict[TopicPartition, list[Any]]) -> int:
    return sum(len(records) for records in batch.values())


def _describe(offsets: dict[TopicPartition, int]) -> dict[str, int]:
    return {f"{tp.topic}/{tp.partition}": offset for tp, offset in offsets.items()}
