"""Turn a Kafka record into a job to enqueue, or a reason to dead-letter it. Pure."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pydantic import ValidationError

from northbridge_shared.contracts import EVENT_ID_HEADER
from northbridge_shared.events import DuplicateKeyError, parse_event
from northbridge_shared.identity import derived_event_id, is_derived_id, is_idempotency_key
from northbridge_shared.jobs import Delivery, Route


class Record(Protocol):
    """The parts of an aiokafka ``ConsumerRecord`` the bridge reads."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch: when the producer (or Kafka) wrote it
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Accepted:
    """A record that becomes one job on ``queue``, unless its event id has one already."""

    record: Record
    queue: str
    delivery: Delivery


@dataclass(frozen=True)
class Rejected:
    """A record that cannot become a job, and why.

    ``event_id`` is the record's own id when it carries a valid one and is not refused for
    it; its receipt is then written under that id, else under the record's position id.
    """

    record: Record
    reason: str
    event_id: str | None = None

    @property
    def receipt_id(self) -> str:
        """The id the dead letter's receipt is written under."""
        record = self.record
        return self.event_id or derived_event_id(record.topic, record.partition, record.offset)


def decode(record: Record, routes: dict[str, Route]) -> Accepted | Rejected:
    """Validate ``record`` and build its job, deriving an id when the record carries none.

    Whatever a producer wrote, the answer is a job or a dead letter, never an exception:
    an exception here would stop the bridge on the same record after every restart.
    """
    try:
        return _decode(record, routes)
    except Exception as error:  # noqa: BLE001 - any surprise is this record's fault
        return Rejected(record, f"cannot decode record: {error!r}")


def _decode(record: Record, routes: dict[str, Route]) -> Accepted | Rejected:
    route = routes.get(record.topic)
    if route is None:
        return Rejected(record, f"no route for topic {record.topic}")
    event_id = _event_id(record)
    if event_id is None:
        return Rejected(record, f"{EVENT_ID_HEADER} header is not a valid event id")
    if not record.value:
        return Rejected(record, "record has no value", event_id)
    try:
        event = parse_event(record.value)
    except ValidationError as error:
        return Rejected(record, summarize(error), event_id)
    except DuplicateKeyError as error:
        return Rejected(record, f"value: {error}", event_id)
    delivery = Delivery(event_id=event_id, topic=record.topic, mail=route.mail, event=event)
    return Accepted(record=record, queue=route.queue, delivery=delivery)


def summarize(error: ValidationError) -> str:
    """One line naming each problem, without echoing the (possibly huge) input."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    return "; ".join(
        f"{'.'.join(str(part) for part in p['loc']) or 'value'}: {p['msg']}" for p in problems
    )


def _event_id(record: Record) -> str | None:
    for name, value in record.headers:
        if name == EVENT_ID_HEADER:
            if value is None:  # Kafka allows a header without a value
                return None
            text = value.decode("utf-8", errors="replace")
            # A derived id in the header is a dead letter replayed under its first position.
            return text if is_idempotency_key(text) or is_derived_id(text) else None
    return derived_event_id(record.topic, record.partition, record.offset)
