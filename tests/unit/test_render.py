"""How deliveries become mails, read back from their bytes as a receiver reads them."""

import email.policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from northbridge_email_worker import render as rendering
from northbridge_email_worker.render import render
from northbridge_email_worker.settings import MailSettings
from northbridge_shared.events import Event
from northbridge_shared.jobs import Delivery, MailKind

MAIL = MailSettings(
    sender="nb@example.com", default_recipient="ops@example.com", message_id_domain="nb.example.com"
)


def delivery(mail: MailKind, **fields: str) -> Delivery:
    event = Event.model_validate({"name": "ada", "loc": "london", **fields})
    return Delivery(event_id="evt-1", topic="north-updates", mail=mail, event=event)


def received(delivery: Delivery) -> EmailMessage:
    """The rendered mail as smtplib puts it on the wire, parsed back."""
    message = render(delivery, MAIL)
    wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    parsed: EmailMessage = BytesParser(policy=email.policy.default).parsebytes(wire)
    return parsed


def test_notification_without_recipient_goes_to_default() -> None:
    """A seed north event becomes a notification to the configured default recipient."""
    message = received(delivery(MailKind.NOTIFICATION))
    assert message["To"] == "ops@example.com"
    assert message["From"] == "nb@example.com"
    assert message["Subject"] == "Notification: ada in london"
    assert message["Message-ID"] == "<evt-1@nb.example.com>"
    assert "ada posted an update from london" in message.get_content()


def test_direct_mail_uses_the_event_fields() -> None:
    """A south event with recipient, subject and message is mailed as written."""
    message = received(
        delivery(MailKind.DIRECT, recipient="bob@example.com", subject="Hi", message="Body")
    )
    assert (message["To"], message["Subject"]) == ("bob@example.com", "Hi")
    assert message.get_content().replace("\r\n", "\n") == "Body\n"


def test_direct_mail_default_text_differs_from_notification() -> None:
    """South events without text get the direct-mail wording."""
    message = received(delivery(MailKind.DIRECT))
    assert message["Subject"] == "Message for ada (london)"


@pytest.mark.parametrize(
    ("fields", "fast"),
    [
        ({}, True),
        ({"subject": "Grüße aus Köln"}, False),
        ({"name": "Zoë"}, False),
        ({"message": "naïve body"}, False),
        ({"message": "x" * 200}, False),  # a line the modern API re-encodes
        ({"recipient": "bob@example.com", "message": "two\nlines"}, True),
    ],
)
def test_both_ways_of_building_give_the_same_mail(fields: dict[str, str], fast: bool) -> None:
    """ASCII takes the cheap legacy API; the rest the modern one; a receiver sees the same."""
    sent = delivery(MailKind.DIRECT, **fields)
    assert isinstance(render(sent, MAIL), EmailMessage) is not fast
    message = received(sent)
    event = sent.event
    assert message["Subject"] == (event.subject or "Message for " + f"{event.name} ({event.loc})")
    assert message["To"] == (event.recipient or MAIL.default_recipient)
    assert message["Message-ID"] == "<evt-1@nb.example.com>"
    assert message["X-Northbridge-Topic"] == "north-updates"
    assert message.get_content_type() == "text/plain"
    content = message.get_content().replace("\r\n", "\n")
    assert content.endswith("\n")
    assert (event.message or f"Hello {event.name}") in content
    assert all(len(line) <= 998 for line in message.as_bytes().splitlines())
    assert rendering.MAX_LINE == 78
