"""Hostile records go to the dead-letter topic; none of them stops the bridge."""

import asyncio
import uuid
from functools import partial

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.producer import message_accumulator, producer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy

from northbridge_shared.contracts import NORTH_TOPIC, dead_letter_topic

from .conftest import Pipeline
from .support import mails_about, read_topic, wait_for

# Just under the broker's default message.max.bytes: it fits north-updates, but its
# dead-letter copy, with the error headers added, does not fit the DLQ.
HUGE = 1_048_400


def write(
    bootstrap: str, records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]]
) -> None:
    """Produce raw records, as a careless or hostile producer might."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=2 * HUGE)
        await producer.start()
        try:
            for key, value, headers in records:
                await producer.send_and_wait(NORTH_TOPIC, value=value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_hostile_records_are_dead_lettered_and_the_next_one_flows(pipeline: Pipeline) -> None:
    """Too big for the DLQ, a null event-id, a tombstone, a bad id: all parked, none fatal."""
    marker = uuid.uuid4().hex
    good = f"after-hostile-{marker}"
    key = marker.encode()
    write(
        pipeline.kafka.bootstrap_servers,
        [
            (key, b"x" * HUGE, []),
            (key, b'{"name": "n", "loc": "l"}', [("event-id", None)]),
            (key, None, []),
            (key, b'{"name": "n", "loc": "l"}', [("event-id", b"order.42")]),
            (key, f'{{"name": "{good}", "loc": "x"}}'.encode(), []),
        ],
    )
    wait_for(lambda: mails_about(pipeline.mail, good), timeout=30, what="the good mail")
    dead = [
        r
        for r in read_topic(pipeline.kafka.bootstrap_servers, dead_letter_topic(NORTH_TOPIC))
        if r.key == key
    ]
    assert len(dead) == 4
    reasons = [dict(r.headers)["error"].decode() for r in dead]
    assert "JSON" in reasons[0]
    assert dict(dead[0].headers)["value-dropped-bytes"] == str(HUGE).encode()
    assert dead[0].value == b""
    assert "event-id" in reasons[1]
    assert "no value" in reasons[2]
    assert "event-id" in reasons[3]


class NotUtf8(str):
    """A header name that encodes to bytes no UTF-8 decoder accepts, as any producer can write."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"\xff\xfe" + super().encode(encoding, errors)


def write_one_batch(bootstrap: str, key: bytes, records: list[tuple[bytes, str]]) -> None:
    """Produce ``records`` (value, header name) as one batch on ``key``'s partition."""

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
        await producer.start()
        try:
            sent = [
                await producer.send(NORTH_TOPIC, value=value, key=key, headers=[(name, b"v")])
                for value, name in records
            ]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_record_aiokafka_cannot_decode_is_dead_lettered_and_its_batch_flows(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A header name that is not UTF-8 stops neither its batch, its partition nor the others."""
    marker = uuid.uuid4().hex
    bridge = pipeline.services["bridge"]
    # aiokafka's C builder encodes names itself; its pure-Python one calls str.encode.
    for module in (message_accumulator, producer):
        monkeypatch.setattr(module, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy)
    bootstrap = pipeline.kafka.bootstrap_servers
    key = marker.encode()
    event = '{{"name": "{}-{}", "loc": "x"}}'
    write_one_batch(
        bootstrap,
        key,
        [
            (event.format("before", marker).encode(), "trace"),
            (event.format("unreadable", marker).encode(), NotUtf8("trace")),
            (event.format("after", marker).encode(), "trace"),
        ],
    )
    monkeypatch.undo()
    write(bootstrap, [(f"elsewhere-{marker}".encode(), event.format("later", marker).encode(), [])])

    for name in ("before", "after", "later"):
        wait_for(
            partial(mails_about, pipeline.mail, f"{name}-{marker}"),
            timeout=30,
            what=f"the mail of {name}",
        )
    [dead] = [r for r in read_topic(bootstrap, dead_letter_topic(NORTH_TOPIC)) if r.key == key]
    headers = dict(dead.headers)
    assert "header name" in headers["error"].decode()
    assert "not UTF-8" in headers["error"].decode()
    assert headers["original-offset"].decode().isdigit()
    assert headers["\\xff\\xfetrace"] == b"v"  # the name, escaped; its value kept
    assert f"unreadable-{marker}".encode() in dead.value
    assert not mails_about(pipeline.mail, f"unreadable-{marker}")
    assert bridge.running
    assert "unreadable_batch_passed" in bridge.log_since_spawn()
