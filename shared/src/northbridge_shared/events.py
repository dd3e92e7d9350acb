"""The event a client sends, and the rules that make it safe to turn into a mail.

Limits are deliberately tight: every text that may end up in a mail header refuses
control characters (CR/LF would let a client inject headers, RFC 5322 section 2.2).
"""

import re
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

MAX_NAME: Final = 200
MAX_SUBJECT: Final = 200
MAX_MESSAGE: Final = 10_000
MAX_KEY: Final = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _single_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be a single line without control characters")
    return value


HeaderText = Annotated[str, AfterValidator(_single_line)]


class Event(BaseModel):
    """One event, as posted to the gateway or written to Kafka.

    ``{"name": ..., "loc": ...}`` is the payload existing clients send and stays valid;
    the other fields let a client say who gets the mail and what it says.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: Annotated[HeaderText, Field(min_length=1, max_length=MAX_NAME)]
    loc: Annotated[HeaderText, Field(min_length=1, max_length=MAX_NAME)]
    recipient: Annotated[EmailStr, AfterValidator(_single_line)] | None = None
    subject: Annotated[HeaderText, Field(min_length=1, max_length=MAX_SUBJECT)] | None = None
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE)] | None = None
    key: Annotated[HeaderText, Field(min_length=1, max_length=MAX_KEY)] | None = None

    def partition_key(self) -> bytes:
        """The Kafka key: one key's events stay in order on one partition."""
        return (self.key or self.recipient or self.name).encode()
