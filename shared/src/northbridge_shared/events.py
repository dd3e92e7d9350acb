"""The event a client sends, and the rules that make it safe to turn into a mail.

Limits are deliberately tight: every text that may end up in a mail header refuses
control characters (CR/LF would let a client inject headers, RFC 5322 section 2.2).
"""

import json
import re
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

MAX_NAME: Final = 200
MAX_SUBJECT: Final = 200
MAX_MESSAGE: Final = 10_000
MAX_KEY: Final = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A mail body may have tabs and line breaks; other controls (NUL, bare CR, ESC, ...) only
# mangle or smuggle what a mail client shows. Lines end in "\n"; SMTP makes them CRLF.
_BODY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be a single line without control characters")
    return value


def _body_text(value: str) -> str:
    if _BODY_CONTROL.search(value):
        raise ValueError("must not hold control characters other than tab and newline")
    return value


HeaderText = Annotated[str, AfterValidator(_single_line)]
BodyText = Annotated[str, AfterValidator(_body_text)]
# The same rules as JSON Schema patterns, for the gateway's OpenAPI document (the validators
# above decide; these only describe them).
_SINGLE_LINE = {"pattern": "^[^\\x00-\\x1f\\x7f]*$"}
_BODY = {"pattern": "^[^\\x00-\\x08\\x0b-\\x1f\\x7f]*$"}


class Event(BaseModel):
    """One event, as posted to the gateway or written to Kafka.

    ``{"name": ..., "loc": ...}`` is the payload existing clients send and stays valid;
    the other fields let a client say who gets the mail and what it says.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[
        HeaderText, Field(min_length=1, max_length=MAX_NAME, json_schema_extra=_SINGLE_LINE)
    ]
    loc: Annotated[
        HeaderText, Field(min_length=1, max_length=MAX_NAME, json_schema_extra=_SINGLE_LINE)
    ]
    recipient: Annotated[EmailStr, AfterValidator(_single_line)] | None = None
    subject: (
        Annotated[
            HeaderText,
            Field(min_length=1, max_length=MAX_SUBJECT, json_schema_extra=_SINGLE_LINE),
        ]
        | None
    ) = None
    message: (
        Annotated[BodyText, Field(min_length=1, max_length=MAX_MESSAGE, json_schema_extra=_BODY)]
        | None
    ) = None
    key: (
        Annotated[
            HeaderText, Field(min_length=1, max_length=MAX_KEY, json_schema_extra=_SINGLE_LINE)
        ]
        | None
    ) = None

    def partition_key(self) -> bytes:
        """The Kafka key: one key's events stay in order on one partition."""
        return (self.key or self.recipient or self.name).encode()


class DuplicateKeyError(ValueError):
    """A JSON object names one key twice; which value was meant is unknowable."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def parse_event(data: bytes) -> Event:
    """The event in ``data``: JSON naming no key twice, held to the model's rules.

    Pydantic's JSON parser keeps the last of duplicated keys, so ``{"name": "a", "name":
    "b"}`` would pass as "b"; json's ``object_pairs_hook`` finds that first (about 9 us for
    an event). Pydantic's parser stays the judge of everything else: it also refuses what
    json would let through (lone surrogates, UTF-16). Raises ``DuplicateKeyError`` or
    pydantic's ``ValidationError``.
    """
    try:
        parsed = json.loads(data, object_pairs_hook=mark_duplicates)
    except ValueError:
        parsed = None  # not JSON: pydantic says so, in its words, below
    if isinstance(parsed, Duplicated):
        raise DuplicateKeyError(parsed.key)
    return Event.model_validate_json(data)


class Duplicated(dict[str, Any]):
    """What :func:`mark_duplicates` makes of an object that names ``key`` twice."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


def mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Json's ``object_pairs_hook``: the object, or a :class:`Duplicated` naming the key."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            return Duplicated(key)
        found[key] = value
    return found
