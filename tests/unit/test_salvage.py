"""Batches aiokafka cannot read are read raw: every record is judged, none is skipped silently."""

import struct

import pytest
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from aiokafka.structs import TopicPartition

from northbridge_bridge.raw_records import UnreadableBatchError, read_batches
from northbridge_bridge.records import Accepted, Rejected
from northbridge_bridge.salvage import salvage
from northbridge_shared.jobs import DEFAULT_ROUTES

TP = TopicPartition("north-updates", 3)
EVENT = b'{"name": "ada", "loc": "london"}'
GZIP = 1


class NotUtf8(str):
    """A header name whose bytes are not UTF-8 (aiokafka's Python builder calls encode)."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff" + super().encode(encoding, errors)


Spec = tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def batch(base_offset: int, records: list[Spec], compression: int = 0) -> bytes:
    """One v2 record batch at ``base_offset``, as a broker would return it."""
    builder = _DefaultRecordBatchBuilderPy(
        magic=2,
        compression_type=compression,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    for delta, (key, value, headers) in enumerate(records):
        builder.append(delta, timestamp=None, key=key, value=value, headers=headers)
    built = builder.build()
    built[0:8] = struct.pack(">q", base_offset)  # the CRC does not cover the base offset
    return bytes(built)


POISONED = batch(
    10, [(b"k", EVENT, []), (None, EVENT, [(NotUtf8("trace"), b"t")]), (None, EVENT, [])]
)
NEXT = batch(13, [(None, EVENT, [])])


def test_every_record_is_read_with_names_as_bytes() -> None:
    """Keys, values (null too) and headers come back as written; offsets count from the base."""
    [read] = read_batches(POISONED)
    assert (read.base_offset, read.next_offset, read.crc_ok) == (10, 13, True)
    assert [r.offset for r in read.records] == [10, 11, 12]
    assert read.records[0].key == b"k"
    assert read.records[1].headers == ((b"\xfftrace", b"t"),)


def test_compressed_batches_are_read() -> None:
    """A producer's gzip batch is read like a plain one."""
    [read] = read_batches(batch(0, [(None, EVENT, []), (None, None, [])], compression=GZIP))
    assert [r.value for r in read.records] == [EVENT, None]


def test_a_cut_last_batch_is_left_out() -> None:
    """A fetch may end inside a batch; only complete ones count."""
    assert [b.base_offset for b in read_batches(POISONED + NEXT[:-5])] == [10]


def test_a_damaged_batch_fails_its_crc() -> None:
    """Bytes changed after the producer wrote them are flagged, not trusted."""
    damaged = bytearray(NEXT)
    damaged[-3] ^= 0xFF
    [read] = read_batches(bytes(damaged))
    assert not read.crc_ok


def test_an_unknown_format_is_unreadable() -> None:
    """Only magic 2 is understood; anything else is refused with the reason."""
    legacy = bytearray(NEXT)
    legacy[16] = 1
    with pytest.raises(UnreadableBatchError, match="magic 1"):
        list(read_batches(bytes(legacy)))


def test_salvage_dead_letters_the_unreadable_record_and_keeps_its_neighbours() -> None:
    """The records around the bad header name become jobs; it becomes a dead letter."""
    salvaged = salvage(TP, 10, POISONED + NEXT, DEFAULT_ROUTES)
    assert [type(d) for d in salvaged.decoded] == [Accepted, Rejected, Accepted]
    rejected = salvaged.decoded[1]
    assert isinstance(rejected, Rejected)
    assert "header name b'\\xfftrace' is not UTF-8" in rejected.reason
    assert rejected.record.value == EVENT
    assert rejected.record.headers == [("\\xfftrace", b"t")]
    assert salvaged.next_offset == 13  # the next batch is aiokafka's to read again


def test_salvage_starts_at_the_position() -> None:
    """Records of the batch before the position were processed already."""
    salvaged = salvage(TP, 11, POISONED, DEFAULT_ROUTES)
    assert [d.record.offset for d in salvaged.decoded if isinstance(d, Rejected)] == [11]
    assert len(salvaged.decoded) == 2


def test_nothing_readable_dead_letters_the_position_and_moves_one_on() -> None:
    """Garbage at the position: one dead letter names it, and the next offset is tried."""
    salvaged = salvage(TP, 42, b"\x00" * 20 + b"not a batch" * 10, DEFAULT_ROUTES)
    [rejected] = salvaged.decoded
    assert isinstance(rejected, Rejected)
    assert (rejected.record.topic, rejected.record.partition, rejected.record.offset) == (
        "north-updates",
        3,
        42,
    )
    assert rejected.reason.startswith("unreadable record")
    assert salvaged.next_offset == 43
