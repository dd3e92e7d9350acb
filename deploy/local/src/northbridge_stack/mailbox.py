"""Mail read back from Mailpit's API (v1): the one way the chaos run and the tests read it.

The same calls work on the local stack's Mailpit, a test's, and compose's published port.
"""

import email.policy
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Final

PAGE: Final = 1000  # summaries per request


@dataclass(frozen=True)
class Mail:
    """Mailpit's summary of one message."""

    id: str  # Mailpit's own
    message_id: str  # the Message-ID header, without its angle brackets (as Mailpit lists it)
    subject: str
    to: tuple[str, ...]  # the To header's addresses
    received: float  # when Mailpit took it, epoch seconds

    @property
    def event_id(self) -> str:
        """The event this mail is for: the Message-ID's left half (see the email worker)."""
        return self.message_id.split("@", 1)[0]


class Mailbox:
    """Mailpit's API at ``url`` (``http://host:8025``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        # No proxy: an http_proxy in the environment must not carry a loopback call elsewhere.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def all(self) -> list[Mail]:
        """Every message Mailpit holds, oldest first."""
        return list(reversed(list(self._pages("messages"))))

    def search(self, query: str) -> list[Mail]:
        """Messages matching Mailpit's search ``query`` (``subject:x``, ``message-id:y``)."""
        return list(reversed(list(self._pages("search", query=query))))

    def with_id(self, event_id: str) -> list[Mail]:
        """Mails whose Message-ID carries ``event_id`` (the search narrows, this decides)."""
        found = self.search(f"message-id:{event_id}")
        return [mail for mail in found if mail.event_id == event_id]

    def about(self, text: str) -> list[Mail]:
        """Mails whose subject contains ``text`` (one word: no spaces or quotes)."""
        return [mail for mail in self.search(f"subject:{text}") if text in mail.subject]

    def count(self) -> int:
        """How many messages Mailpit holds."""
        total: int = self._get("messages", limit=1)["total"]
        return total

    def message(self, mail: Mail) -> EmailMessage:
        """The whole message as it arrived, parsed."""
        raw = self._fetch(f"/api/v1/message/{mail.id}/raw")
        parser = BytesParser(_class=EmailMessage, policy=email.policy.default)
        parsed: EmailMessage = parser.parsebytes(raw)
        return parsed

    def _pages(self, endpoint: str, **params: Any) -> Iterator[Mail]:
        """Newest first, as Mailpit lists them."""
        start = 0
        while True:
            answer = self._get(endpoint, start=start, limit=PAGE, **params)
            summaries = answer["messages"]
            yield from (_mail(summary) for summary in summaries)
            start += len(summaries)
            if len(summaries) < PAGE or start >= answer["messages_count"]:
                return

    def _get(self, endpoint: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        answer: dict[str, Any] = json.loads(self._fetch(f"/api/v1/{endpoint}?{query}"))
        return answer

    def _fetch(self, path: str) -> bytes:
        with self._opener.open(f"{self.url}{path}", timeout=self._timeout) as response:
            body: bytes = response.read()
            return body


def _mail(summary: dict[str, Any]) -> Mail:
    return Mail(
        id=summary["ID"],
        message_id=summary["MessageID"],
        subject=summary["Subject"],
        to=tuple(address["Address"] for address in summary["To"] or ()),
        received=datetime.fromisoformat(summary["Created"]).timestamp(),
    )
