"""The bridge's decoding of Kafka records into jobs or dead letters."""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from northbridge_bridge.dead_letter import dead_letter_headers
from northbridge_bridge.records import Accepted, Rejected, decode
from northbridge_shared.contracts import EMAIL_QUEUE, NOTIFICATION_QUEUE
from northbridge_shared.jobs import DEFAULT_ROUTES, MailKind


@dataclass
class FakeRecord:
    """A ConsumerRecord stand-in: the bridge reads only these attributes."""

    topic: str = "north-updates"
    partition: int = 2
    offset: int = 41
    timestamp: int = 1_764_979_200_000
    key: bytes | None = None
    value: bytes | None = b'{"name": "ada", "loc": "london"}'
    headers: Sequence[tuple[str, bytes | None]] = field(default_factory=list)


def test_gateway_record_keeps_its_event_id() -> None:
    """A record with an event-id header becomes a job with that id on the routed queue."""
    decoded = decode(FakeRecord(headers=[("event-id", b"evt-1")]), DEFAULT_ROUTES)
    assert isinstance(decoded, Accepted)
    assert decoded.delivery.event_id == "evt-1"
    assert decoded.queue == NOTIFICATION_QUEUE
    assert decoded.delivery.mail is MailKind.NOTIFICATION


def test_console_producer_record_gets_position_id() -> None:
    """A raw record (no key, no headers) gets an id from topic/partition/offset."""
    decoded = decode(FakeRecord(topic="south-updates", partition=0, offset=7), DEFAULT_ROUTES)
    assert isinstance(decoded, Accepted)
    assert decoded.delivery.event_id == "_south-updates-0-7"
    assert decoded.queue == EMAIL_QUEUE


def test_replay_maps_to_same_id() -> None:
    """Decoding the same record twice yields the same event id (so the same job)."""
    first = decode(FakeRecord(), DEFAULT_ROUTES)
    second = decode(FakeRecord(), DEFAULT_ROUTES)
    assert isinstance(first, Accepted)
    assert isinstance(second, Accepted)
    assert first.delivery.event_id == second.delivery.event_id


def test_malformed_json_is_rejected() -> None:
    """A value that is not JSON is rejected with a reason."""
    decoded = decode(FakeRecord(value=b"{not json"), DEFAULT_ROUTES)
    assert isinstance(decoded, Rejected)
    assert "JSON" in decoded.reason


def test_invalid_event_is_rejected_naming_the_field() -> None:
    """A JSON value that is not a valid event names the failing field."""
    decoded = decode(FakeRecord(value=b'{"name": "ada"}'), DEFAULT_ROUTES)
    assert isinstance(decoded, Rejected)
    assert decoded.reason.startswith("loc:")


def test_empty_value_and_bad_header_are_rejected() -> None:
    """Tombstones and unusable event-id headers cannot become jobs."""
    assert isinstance(decode(FakeRecord(value=None), DEFAULT_ROUTES), Rejected)
    bad_id = FakeRecord(headers=[("event-id", b"has space")])
    assert isinstance(decode(bad_id, DEFAULT_ROUTES), Rejected)


def test_null_event_id_header_is_rejected() -> None:
    """A header with no value (Kafka allows it) is an invalid id, not a crash."""
    decoded = decode(FakeRecord(headers=[("event-id", None)]), DEFAULT_ROUTES)
    assert isinstance(decoded, Rejected)
    assert "event-id" in decoded.reason


class ExplodingHeaders:
    """Headers that fail when read, standing in for any surprise in a record."""

    def __iter__(self) -> Iterator[tuple[str, bytes]]:
        """Fail on the first read."""
        raise RuntimeError("boom")


def test_any_decoding_error_becomes_a_rejection() -> None:
    """Whatever goes wrong while decoding, the record is dead-lettered, the bridge lives."""
    record = FakeRecord(headers=ExplodingHeaders())  # type: ignore[arg-type]
    decoded = decode(record, DEFAULT_ROUTES)
    assert isinstance(decoded, Rejected)
    assert "boom" in decoded.reason


def test_dead_letter_of_a_record_with_its_own_id_names_that_id() -> None:
    """A record refused for its body keeps its event id; its replay will carry it."""
    rejected = decode(FakeRecord(headers=[("event-id", b"evt-9")], value=b"{}"), DEFAULT_ROUTES)
    assert isinstance(rejected, Rejected)
    assert dict(dead_letter_headers(rejected))["dead-letter-event-id"] == b"evt-9"


def test_replayed_record_keeps_its_first_position_id() -> None:
    """A derived id in the event-id header (a replayed dead letter) is the event's id."""
    decoded = decode(
        FakeRecord(offset=99, headers=[("event-id", b"_north-updates-2-41")]), DEFAULT_ROUTES
    )
    assert isinstance(decoded, Accepted)
    assert decoded.delivery.event_id == "_north-updates-2-41"


def test_dead_letter_headers_carry_origin_and_reason() -> None:
    """Dead letters keep the record's headers and add where it came from and why."""
    rejected = Rejected(FakeRecord(headers=[("trace", b"t")]), "loc: Field required")
    headers = dict(dead_letter_headers(rejected))
    assert headers == {
        "trace": b"t",
        "error": b"loc: Field required",
        "dead-letter-event-id": b"_north-updates-2-41",  # no event-id: its position id
        "original-topic": b"north-updates",
        "original-partition": b"2",
        "original-offset": b"41",
    }
