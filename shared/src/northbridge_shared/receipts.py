"""Receipts: what each hop did to an event, written under its id as it happens.

One Redis hash per event id, ``northbridge:receipt:<id>``, with one field per hop. A hop
that happens once (accepted, enqueued, sent, failed) has its own field, set with HSETNX: a
record read twice, or the gateway and the bridge both noting the acceptance, keep the first.
Each delivery attempt, dead letter, replay and requeue is a field of its own
(``attempt:<time>:<n>``), as many as happened. Every value is a JSON object with the time
``at`` of the hop, so the reader sorts them. Every write refreshes the key's TTL
(``RECEIPT_TTL_S``), which bounds the memory they take.

Writers add their hop to the same Redis transaction as the work where the work is in Redis
(the bridge's jobs, the worker's send), and after it where it is not (Kafka), so a receipt
never claims what did not happen.
"""

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Protocol

PREFIX: Final = "northbridge:receipt:"
# The ledger: how many events of a topic reached each hop, ever, one hash per topic
# (``northbridge:counts:<topic>``, field = hop), counted by :func:`note` as it keeps the hop:
# once per event for a once-only hop, so a retried POST or a re-read record is not counted
# twice. Exact, and it survives restarts (unlike a process's Prometheus counters).
COUNTS_PREFIX: Final = "northbridge:counts:"
# The ids of the latest events the bridge handled, newest first (the dashboard lists them).
RECENT_KEY: Final = "northbridge:receipts:recent"
RECENT: Final = 1000


class Hop(StrEnum):
    """What happened to an event, in the order it normally happens."""

    ACCEPTED = "accepted"  # Kafka has it: topic, partition, offset
    ENQUEUED = "enqueued"  # its job is in Redis: queue, job_id
    DEAD_LETTERED = "dead_lettered"  # in <topic>.dlq instead: reason, dlq position
    REPLAYED = "replayed"  # an operator sent its dead letter through again: from, to
    ATTEMPT = "attempt"  # a worker tried to mail it: outcome, reply or error, next_retry_at
    SENT = "sent"  # the SMTP server accepted the mail: message_id, reply
    FAILED = "failed"  # retries exhausted: error; the job is in rq's failed registry
    REQUEUED = "requeued"  # an operator ran its failed job again


# Hops that can happen more than once: a replayed dead letter may be dead-lettered again.
REPEATED: Final = frozenset({Hop.ATTEMPT, Hop.DEAD_LETTERED, Hop.REPLAYED, Hop.REQUEUED})


class Commands(Protocol):
    """The Redis commands a writer queues: a pipeline, sync or asyncio."""

    def hsetnx(self, name: str, key: str, value: bytes) -> Any: ...  # noqa: D102
    def hset(self, name: str, key: str, value: bytes) -> Any: ...  # noqa: D102
    def expire(self, name: str, time: int) -> Any: ...  # noqa: D102
    def lpush(self, name: str, *values: str) -> Any: ...  # noqa: D102
    def hincrby(self, name: str, key: str, amount: int) -> Any: ...  # noqa: D102
    def eval(self, script: str, numkeys: int, *keys_and_args: str | bytes | int) -> Any: ...  # noqa: D102
    def ltrim(self, name: str, start: int, end: int) -> Any: ...  # noqa: D102


_sequence = itertools.count()

# Hops that happen once: each kept and counted in the ledger only by its first writer, in
# one step. One call takes a whole batch (KEYS: n receipts, then their n ledgers; ARGV: the
# TTL, then each one's hop and value): per event, a command of its own cost the bridge and
# the gateway more than the hop's own work (make bench --profile).
_FIRST: Final = """
local n = #KEYS / 2
for i = 1, n do
  local hop = ARGV[2 * i]
  if redis.call('HSETNX', KEYS[i], hop, ARGV[2 * i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[n + i], hop, 1)
  end
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
"""


def receipt_key(event_id: str) -> str:
    """The Redis hash of ``event_id``'s hops."""
    return PREFIX + event_id


def iso(moment: datetime) -> str:
    """A time as receipts show it: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def kafka_time(timestamp_ms: int) -> datetime | None:
    """A Kafka record's timestamp (ms since the epoch), or None.

    None when Kafka has none (-1) or a producer wrote one no calendar holds: a record's
    timestamp must never stop the bridge.
    """
    if timestamp_ms < 0:
        return None
    try:
        return datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def from_kafka(timestamp_ms: int) -> str | None:
    """A Kafka record's timestamp as receipts show it; None (then: now) if it has none."""
    moment = kafka_time(timestamp_ms)
    return iso(moment) if moment else None


@dataclass(frozen=True)
class Note:
    """One hop of one event, for :func:`note_all`."""

    event_id: str
    hop: Hop
    ledger: str  # the topic whose ledger counts it
    at: str | None = None  # now, if None
    facts: Mapping[str, object] = field(default_factory=dict)


def note(  # noqa: PLR0913 - whose hop, which, how long kept, whose ledger, when, and facts
    commands: Commands,
    event_id: str,
    hop: Hop,
    ttl_s: int,
    *,
    ledger: str,
    at: str | None = None,
    **facts: object,
) -> None:
    """Queue ``hop`` of ``event_id`` (with ``facts``) on ``commands``; the caller executes.

    The hop is counted in the ledger of topic ``ledger`` as it is kept: a repeated hop each
    time, a once-only hop by its first writer only.
    """
    note_all(commands, [Note(event_id, hop, ledger, at, facts)], ttl_s)


def note_all(commands: Commands, notes: Sequence[Note], ttl_s: int) -> None:
    """Queue every one of ``notes``, as :func:`note` does, the once-only hops in one command."""
    first_keys: list[str] = []
    first_ledgers: list[str] = []
    first_args: list[str | bytes] = []
    for one in notes:
        entry = {"at": one.at or iso(datetime.now(UTC)), **one.facts}
        value = json.dumps(entry, separators=(",", ":")).encode()
        key = receipt_key(one.event_id)
        if one.hop in REPEATED:
            # Unique per process and call: two attempts in one millisecond keep both.
            hop_field = f"{one.hop}:{entry['at']}:{os.getpid()}.{next(_sequence)}"
            commands.hset(key, hop_field, value)
            commands.hincrby(COUNTS_PREFIX + one.ledger, one.hop.value, 1)
            commands.expire(key, ttl_s)
        else:
            first_keys.append(key)
            first_ledgers.append(COUNTS_PREFIX + one.ledger)
            first_args += [one.hop.value, value]
    if first_keys:
        keys = first_keys + first_ledgers
        commands.eval(_FIRST, len(keys), *keys, ttl_s, *first_args)


Fields = Mapping[bytes, bytes] | Mapping[bytes | str, bytes | str]  # as redis-py types HGETALL


def note_recent(commands: Commands, event_ids: list[str]) -> None:
    """Queue ``event_ids`` as the newest events; the list keeps the latest :data:`RECENT`."""
    if event_ids:
        commands.lpush(RECENT_KEY, *event_ids)
        commands.ltrim(RECENT_KEY, 0, RECENT - 1)


def hops(fields: Fields) -> list[dict[str, Any]]:
    """A receipt's hash as a list of hops, oldest first, each ``{"hop": ..., "at": ...}``."""
    order = list(Hop)
    entries = []
    for name_field, value in fields.items():
        name = _text(name_field).split(":", 1)[0]
        if name in order:  # a field of a newer version is left out, not an error
            entries.append({"hop": name, **json.loads(value)})
    # Same millisecond (an attempt and its sent): the usual order of the hops decides.
    return sorted(entries, key=lambda e: (e["at"], order.index(Hop(e["hop"]))))


def receipt(event_id: str, fields: Fields) -> dict[str, Any]:
    """What ``GET /v1/events/{id}`` answers: the id, where it stands, and every hop."""
    entries = hops(fields)
    return {"id": event_id, "state": _state(entries), "hops": entries}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _state(entries: list[dict[str, Any]]) -> str:
    """``sent`` once the mail went out (whatever came after), else the latest hop."""
    if any(e["hop"] == Hop.SENT for e in entries):
        return Hop.SENT.value
    latest: str = entries[-1]["hop"] if entries else "unknown"
    return latest
