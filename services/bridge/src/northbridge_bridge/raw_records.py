"""Kafka record batches read from a fetch's raw bytes, header names kept as bytes. Pure.

aiokafka decodes every header name as UTF-8 while it iterates a batch and raises on the
first that is not; its iterator then stops at that record, so the rest of the batch cannot
be read through it either. The bridge reads such a batch once more with this module, which
decodes nothing, so every record of it still becomes a job or a dead letter.

The layout is Kafka's record batch v2 (magic 2, every Kafka since 0.11):
https://kafka.apache.org/documentation/#recordbatch
"""

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from aiokafka import codec
from aiokafka.record.util import calc_crc32c, decode_varint

# baseOffset, batchLength, partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta,
# baseTimestamp, maxTimestamp, producerId, producerEpoch, baseSequence, recordCount.
_HEADER: Final = struct.Struct(">qiibIhiqqqhii")
_LENGTH_PREFIX: Final = 12  # baseOffset and batchLength come before what batchLength counts
_CRC_FROM: Final = 21  # the CRC covers attributes up to the end of the batch
_COMPRESSION_MASK: Final = 0x07
_CONTROL_BIT: Final = 0x20
_LOG_APPEND_TIME: Final = 0x08
_MAGIC: Final = 2  # the one batch format Kafka has written since 0.11
_DECOMPRESS: Final[dict[int, Callable[[bytes], bytes]]] = {
    1: codec.gzip_decode,
    2: codec.snappy_decode,
    3: codec.lz4_decode,
    4: codec.zstd_decode,
}


class UnreadableBatchError(ValueError):
    """A batch whose structure, not only a header name, cannot be read."""


@dataclass(frozen=True)
class RawRecord:
    """One record as stored: header names are bytes, whatever a producer wrote."""

    offset: int
    timestamp: int  # milliseconds since the epoch
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[bytes, bytes | None], ...]


@dataclass(frozen=True)
class RawBatch:
    """One record batch: its records, where the next batch starts, and whether it is intact."""

    base_offset: int
    next_offset: int
    control: bool  # transaction markers, not data
    crc_ok: bool
    records: tuple[RawRecord, ...]


def read_batches(data: bytes) -> Iterator[RawBatch]:
    """Every complete batch in ``data``, in order; a fetch may end in a cut batch, left out."""
    pos = 0
    while pos + _HEADER.size <= len(data):
        base, length, _, magic, crc, attributes, last_delta, first_ts, max_ts, *_, count = (
            _HEADER.unpack_from(data, pos)
        )
        end = pos + _LENGTH_PREFIX + length
        if end > len(data):
            return
        if magic != _MAGIC:
            raise UnreadableBatchError(f"batch at offset {base} has magic {magic}, not {_MAGIC}")
        body = _decompress(attributes & _COMPRESSION_MASK, data[pos + _HEADER.size : end], base)
        yield RawBatch(
            base_offset=base,
            next_offset=base + last_delta + 1,
            control=bool(attributes & _CONTROL_BIT),
            crc_ok=calc_crc32c(data[pos + _CRC_FROM : end]) == crc,
            records=_records(base, _clock(attributes, first_ts, max_ts), body, count),
        )
        pos = end


def _decompress(compression: int, body: bytes, base: int) -> bytes:
    if compression == 0:
        return body
    decompress = _DECOMPRESS.get(compression)
    if decompress is None:
        raise UnreadableBatchError(f"batch at offset {base} has compression {compression}")
    try:
        return decompress(body)
    except Exception as error:  # each codec library raises errors of its own
        problem = f"batch at offset {base} does not decompress: {error!r}"
        raise UnreadableBatchError(problem) from error


def _clock(attributes: int, first_ts: int, max_ts: int) -> Callable[[int], int]:
    """A record's time from its timestamp delta."""
    if attributes & _LOG_APPEND_TIME:  # Kafka stamped the batch: maxTimestamp, every record
        return lambda _: max_ts
    return lambda delta: first_ts + delta


def _records(
    base: int, clock: Callable[[int], int], body: bytes, count: int
) -> tuple[RawRecord, ...]:
    buffer = bytearray(body)
    pos, records = 0, []
    try:
        for _ in range(count):
            record, pos = _record(base, clock, buffer, pos)
            records.append(record)
    except (IndexError, ValueError) as error:  # varints running past the end of the batch
        raise UnreadableBatchError(f"batch at offset {base}: {error!r}") from error
    return tuple(records)


def _record(
    base: int, clock: Callable[[int], int], buffer: bytearray, pos: int
) -> tuple[RawRecord, int]:
    length, start = decode_varint(buffer, pos)
    end, pos = start + length, start
    _, pos = decode_varint(buffer, pos)  # attributes: unused in v2
    ts_delta, pos = decode_varint(buffer, pos)
    offset_delta, pos = decode_varint(buffer, pos)
    key, pos = _bytes(buffer, pos)
    value, pos = _bytes(buffer, pos)
    count, pos = decode_varint(buffer, pos)
    headers = []
    for _ in range(count):
        name, pos = _bytes(buffer, pos)
        header_value, pos = _bytes(buffer, pos)
        headers.append((name or b"", header_value))
    if pos != end:
        offset = base + offset_delta
        raise ValueError(f"record at offset {offset} is {length} bytes, read {pos - start}")
    return RawRecord(base + offset_delta, clock(ts_delta), key, value, tuple(headers)), pos


def _bytes(buffer: bytearray, pos: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(buffer, pos)
    if length < 0:
        return None, pos
    if pos + length > len(buffer):
        raise ValueError(f"a field of {length} bytes runs past the end of the batch")
    return bytes(buffer[pos : pos + length]), pos + length
