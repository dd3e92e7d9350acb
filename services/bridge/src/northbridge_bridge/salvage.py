"""A partition aiokafka cannot read past: fetch it raw, judge every record, name the next offset.

aiokafka raises from ``getmany`` when a fetched record cannot be decoded (a header name that
is not UTF-8, a batch failing its CRC), and raises again on every later poll: one record
would stop its partition, and the loop that polls, for good. The bridge then fetches the
partition's bytes from its position itself and reads them with :mod:`raw_records`: readable
records become jobs as usual, unreadable ones dead letters carrying what could be read, and
the partition resumes after the batch that held them, where aiokafka can read again.
"""

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka.errors import CorruptRecordException, KafkaError, for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

from northbridge_bridge.raw_records import RawBatch, RawRecord, UnreadableBatchError, read_batches
from northbridge_bridge.records import Accepted, Rejected, decode
from northbridge_shared.jobs import Route

# What aiokafka raises for a record it cannot decode: UnicodeDecodeError (a ValueError) from
# its C reader, CorruptRecordException from its Python one and for a CRC mismatch.
UNREADABLE: Final = (ValueError, struct.error, CorruptRecordException)
# At least one whole batch comes back even when it is larger (Kafka's KIP-74).
FETCH_BYTES: Final = 1024 * 1024
READ_UNCOMMITTED: Final = 0
NO_TIME: Final = -1  # Kafka's own "no timestamp", for a position nothing could be read at


@dataclass  # not frozen: records.Record declares plain (settable) attributes
class SalvagedRecord:
    """A record read raw, in the shape :func:`records.decode` and the dead letters read."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Salvaged:
    """What the raw read made of a partition from a position, and where aiokafka can go on."""

    decoded: list[Accepted | Rejected]
    next_offset: int


async def fetch_raw(client: Any, tp: TopicPartition, offset: int) -> bytes:
    """The bytes Kafka returns for ``tp`` from ``offset``: whole batches, maybe a cut last one."""
    metadata = await client.fetch_all_metadata()
    leader = metadata.leader_for_partition(tp)
    if leader is None or leader < 0:
        raise KafkaError(f"no leader for {tp.topic}/{tp.partition}")
    request = FetchRequest(
        0, 1, FETCH_BYTES, READ_UNCOMMITTED, [(tp.topic, [(tp.partition, offset, FETCH_BYTES)])]
    )
    response = await client.send(leader, request)
    for _, partitions in response.topics:
        for _, error_code, _, *rest in partitions:
            error = for_code(error_code)
            if error is not for_code(0):
                raise error(f"fetching {tp.topic}/{tp.partition} at {offset}")
            data: bytes = rest[-1]  # the record batches come last in every Fetch version
            return data
    raise KafkaError(f"the fetch response has no {tp.topic}/{tp.partition}")


def salvage(tp: TopicPartition, position: int, data: bytes, routes: dict[str, Route]) -> Salvaged:
    """Judge every record from ``position`` to the end of the first batch aiokafka cannot read.

    If nothing can be read at ``position``, one dead letter names it and the partition moves
    on by one offset; a batch broken throughout is passed that way, an offset at a time.
    """
    decoded: list[Accepted | Rejected] = []
    next_offset = position
    problem = "no complete record batch at this position"
    try:
        for batch in read_batches(data):
            if batch.next_offset <= position:
                continue
            if not batch.control:
                records = [r for r in batch.records if r.offset >= position]
                decoded += [_judge(tp, record, batch.crc_ok, routes) for record in records]
            next_offset = batch.next_offset
            if _stops_aiokafka(batch):
                break
    except UnreadableBatchError as error:
        problem = str(error)
    if next_offset == position:
        nothing = SalvagedRecord(tp.topic, tp.partition, position, NO_TIME, None, None, ())
        return Salvaged([Rejected(nothing, f"unreadable record: {problem}")], position + 1)
    return Salvaged(decoded, next_offset)


def _stops_aiokafka(batch: RawBatch) -> bool:
    return not batch.crc_ok or any(
        not _is_utf8(name) for record in batch.records for name, _ in record.headers
    )


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode()
    except UnicodeDecodeError:
        return False
    return True


def _judge(
    tp: TopicPartition, raw: RawRecord, crc_ok: bool, routes: dict[str, Route]
) -> Accepted | Rejected:
    # A name that is not UTF-8 stays readable in the dead letter: b"\xff" becomes "\\xff".
    headers = [(name.decode(errors="backslashreplace"), value) for name, value in raw.headers]
    record = SalvagedRecord(
        tp.topic, tp.partition, raw.offset, raw.timestamp, raw.key, raw.value, headers
    )
    bad = [repr(name) for name, _ in raw.headers if not _is_utf8(name)]
    if bad:
        return Rejected(record, f"unreadable record: header name {', '.join(bad)} is not UTF-8")
    if not crc_ok:
        return Rejected(record, "unreadable record: its batch fails the CRC check")
    return decode(record, routes)
