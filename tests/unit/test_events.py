"""The event contract: what clients may send, and what is refused."""

import pytest
from pydantic import ValidationError

from northbridge_shared.events import DuplicateKeyError, Event, parse_event
from northbridge_shared.identity import is_idempotency_key


def test_seed_payload_is_valid() -> None:
    """The payload existing clients send is accepted unchanged."""
    event = Event.model_validate_json(b'{"name": "ada", "loc": "london"}')
    assert (event.name, event.loc) == ("ada", "london")


def test_rich_payload_is_valid() -> None:
    """Recipient, subject, message and key are optional extras."""
    event = Event.model_validate_json(
        b'{"name": "ada", "loc": "london", "recipient": "ada@example.com",'
        b' "subject": "hi", "message": "line one\\nline two\\tend", "key": "k1"}'
    )
    assert event.recipient == "ada@example.com"
    assert event.message == "line one\nline two\tend"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "ada"}', "loc"),
        (b'{"name": 7, "loc": "london"}', "name"),
        (b'{"name": "ada", "loc": "london", "extra": 1}', "extra"),
        (b'{"name": "", "loc": "london"}', "name"),
        (b'{"name": "' + b"a" * 201 + b'", "loc": "london"}', "name"),
        (b'{"name": "ada\\r\\nBcc: x@example.com", "loc": "london"}', "name"),
        (b'{"name": "ada", "loc": "london", "subject": "hi\\nBcc: x@example.com"}', "subject"),
        (b'{"name": "ada", "loc": "london", "recipient": "not-an-address"}', "recipient"),
        (
            b'{"name": "ada", "loc": "london", "recipient": "a@example.com\\nBcc: b@x.org"}',
            "recipient",
        ),
        (b'{"name": "ada", "loc": "london", "message": "bell\\u0007"}', "message"),
        (b'{"name": "ada", "loc": "london", "message": "cr\\r\\nlf"}', "message"),
        (b'{"name": "ada", "loc": "london", "message": "nul\\u0000"}', "message"),
    ],
)
def test_invalid_fields_are_refused(body: bytes, field: str) -> None:
    """Wrong types, unknown fields, bad lengths and header injection all fail on their field."""
    with pytest.raises(ValidationError) as raised:
        Event.model_validate_json(body)
    assert field in {str(e["loc"][0]) for e in raised.value.errors()}


def test_partition_key_prefers_explicit_key_then_recipient_then_name() -> None:
    """Events are keyed so one key's events stay ordered on one partition."""
    base = {"name": "ada", "loc": "london"}
    assert Event.model_validate(base).partition_key() == b"ada"
    with_recipient = Event.model_validate({**base, "recipient": "r@example.com"})
    assert with_recipient.partition_key() == b"r@example.com"
    keyed = Event.model_validate({**base, "recipient": "r@example.com", "key": "k"})
    assert keyed.partition_key() == b"k"


@pytest.mark.parametrize("key", ["a", "order-42", "0190f2a4-7c1e-7000-8000-000000000000", "a_b-c"])
def test_idempotency_keys_accepted(key: str) -> None:
    """Keys made of safe characters can serve as event ids."""
    assert is_idempotency_key(key)


@pytest.mark.parametrize(
    "key", ["", "-leading", "has space", "x" * 129, "a\r\nb", "a<b>", "ü", "order.42", "a:b"]
)
def test_idempotency_keys_refused(key: str) -> None:
    """Keys that could break a Redis key, an rq job id or a Message-ID are refused."""
    assert not is_idempotency_key(key)


def test_a_key_named_twice_is_refused() -> None:
    """Duplicate keys are not resolved by "last one wins": the event is refused."""
    with pytest.raises(DuplicateKeyError, match="'name'"):
        parse_event(b'{"name": "ada", "loc": "london", "name": "eve"}')


@pytest.mark.parametrize("body", [b"{not json", b'"\xff"', b'{"name": "\\ud800", "loc": "x"}'])
def test_what_is_not_json_is_refused_by_pydantic(body: bytes) -> None:
    """Malformed text, bytes that are not UTF-8 and lone surrogates never become events."""
    with pytest.raises(ValidationError):
        parse_event(body)


def test_parse_event_holds_the_model_rules() -> None:
    """Strict JSON that is not an event still fails on its field."""
    with pytest.raises(ValidationError):
        parse_event(b'{"name": 7, "loc": "x"}')
