"""Accepted events become RQ jobs, a batch at a time, at most one job per event id.

rq's own ``unique=True`` is atomic but costs one round trip per job (it ignores
pipelines), so a batch is planned with one read (a script: each id's binding and whether
its job exists) and written with one MULTI/EXEC (the jobs and their bindings). The read and
the write are not one atomic step; that is safe because a partition has one consumer at a
time in the group, and the worker's send record stops a second mail if two bridges ever
raced on a record.

The same transaction writes each event's receipt (see ``northbridge_shared.receipts``):
accepted and enqueued for a new job, accepted and dead-lettered for a record sent to the
dead-letter topic (written after Kafka acknowledged it), so a receipt shows exactly what the
transaction did.

An event id is bound to the fingerprint of its event (see ``northbridge_shared.identity``):
a record whose id is bound to another event is a conflict, dead-lettered, never dropped as
a duplicate; a record whose id is bound to the same event and has a job is a duplicate.
"""

from dataclasses import dataclass, field
from typing import Final

from opentelemetry import trace
from opentelemetry.trace import Span
from redis import Redis
from rq.job import Job

from northbridge_bridge.dead_letter import DeadLetter
from northbridge_bridge.job_writer import JobWriter, NewJob
from northbridge_bridge.records import Accepted, Record
from northbridge_bridge.spans import ending, record_span
from northbridge_shared import receipts, tracing
from northbridge_shared.contracts import BRIDGE_GROUP, TRACE_META
from northbridge_shared.identity import binding_key, fingerprint
from northbridge_shared.receipts import Hop
from northbridge_shared.settings import JobSettings

# Each id's binding (nil if none) and whether its job exists, for a batch in one call (KEYS:
# the n bindings, then the n job hashes): as 2n pipelined commands, packing them took a
# third of the bridge's CPU once the jobs were cheap to write (make bench --profile).
_LOOK_UP: Final = """
local n = #KEYS / 2
local found = {}
for i = 1, n do
  found[2 * i - 1] = redis.call('GET', KEYS[i])
  found[2 * i] = redis.call('EXISTS', KEYS[n + i])
end
return found
"""


@dataclass(frozen=True)
class Plan:
    """What a batch of accepted events is: new jobs, duplicates, and conflicting ids."""

    fresh: list[Accepted] = field(default_factory=list)
    duplicates: list[Accepted] = field(default_factory=list)
    conflicts: list[Accepted] = field(default_factory=list)


class Enqueuer:
    """Writes jobs for the deliver function, by dotted path, with the JSON serializer."""

    def __init__(
        self, redis: Redis, jobs: JobSettings, receipt_ttl_s: int, group: str = BRIDGE_GROUP
    ) -> None:
        self._redis = redis
        self._group = group  # named in the spans
        self._jobs = jobs
        self._receipt_ttl_s = receipt_ttl_s
        self._writer = JobWriter(redis, jobs)

    def plan(self, accepted: list[Accepted]) -> Plan:
        """Sort ``accepted`` by what its id already has; blocking (call it in a thread).

        Within a batch, the records are taken in the order they were written (their
        timestamps; Kafka's own order within a partition when equal): a batch holds several
        partitions, and of two records with one id the earlier is the event, the later the
        conflict or the duplicate, whichever partition comes first in the batch.
        """
        accepted = sorted(accepted, key=lambda item: item.record.timestamp)  # stable
        first: dict[str, Accepted] = {}
        for item in accepted:
            first.setdefault(item.delivery.event_id, item)
        keys = [binding_key(i) for i in first] + [Job.key_for(i) for i in first]
        replies = self._redis.eval(_LOOK_UP, len(keys), *keys) if first else []
        known = {  # the fingerprint an id is bound to ("" if none), and whether it has a job
            event_id: ((bound or b"").decode(), bool(exists))
            for event_id, bound, exists in zip(first, replies[::2], replies[1::2], strict=True)
        }
        plan = Plan()
        for item in accepted:
            event_id, mine = item.delivery.event_id, _fingerprint(item)
            bound, has_job = known[event_id]
            if bound and bound != mine:
                plan.conflicts.append(item)
            elif has_job:
                plan.duplicates.append(item)
            else:
                plan.fresh.append(item)
                known[event_id] = (mine, True)  # a later record in this batch meets it
        return plan

    def write(self, fresh: list[Accepted], dead: list[DeadLetter]) -> None:
        """Enqueue a job for each of ``fresh`` and bind its id, in one MULTI/EXEC; blocking.

        The jobs are rq's, written by :class:`~northbridge_bridge.job_writer.JobWriter`.

        The same transaction writes the receipts of ``fresh`` and of the ``dead`` letters.
        """
        spans = {item.delivery.event_id: record_span(item, self._group) for item in fresh}
        with self._redis.pipeline(transaction=True) as pipe, ending(spans.values()):
            self._writer.write(
                pipe, [self._job(item, spans[item.delivery.event_id]) for item in fresh]
            )
            notes: list[receipts.Note] = []
            for item in fresh:
                event_id = item.delivery.event_id
                notes.append(_accepted(event_id, item.record))
                facts = {"queue": item.queue, "job_id": event_id}
                notes.append(
                    receipts.Note(event_id, Hop.ENQUEUED, item.delivery.topic, None, facts)
                )
            for letter in dead:
                event_id = letter.rejected.receipt_id
                notes.append(_accepted(event_id, letter.rejected.record))
                dead_lettered = {
                    "reason": letter.rejected.reason,
                    "topic": letter.topic,
                    "partition": letter.partition,
                    "offset": letter.offset,
                }
                topic = letter.rejected.record.topic
                notes.append(receipts.Note(event_id, Hop.DEAD_LETTERED, topic, None, dead_lettered))
            receipts.note_all(pipe, notes, self._receipt_ttl_s)
            ids = [item.delivery.event_id for item in fresh]
            receipts.note_recent(pipe, ids + [letter.rejected.receipt_id for letter in dead])
            pipe.execute()

    def _job(self, item: Accepted, span: Span) -> NewJob:
        # The job carries the trace on, from this span, in its meta (the worker reads it).
        carrier = tracing.to_carrier(trace.set_span_in_context(span))
        event_id = item.delivery.event_id
        return NewJob(
            job_id=event_id,
            queue=item.queue,
            payload=item.delivery.model_dump(mode="json"),
            description=f"deliver {item.delivery.topic} event {event_id}",
            meta={TRACE_META: carrier} if carrier else None,
            binding_key=binding_key(event_id),
            fingerprint=_fingerprint(item),
        )


def _accepted(event_id: str, record: Record) -> receipts.Note:
    """Kafka's acceptance, from the record (the gateway may have noted it already)."""
    position = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    at = receipts.from_kafka(record.timestamp)
    return receipts.Note(event_id, Hop.ACCEPTED, record.topic, at, position)


def _fingerprint(item: Accepted) -> str:
    return fingerprint(item.delivery.topic, item.delivery.event)
