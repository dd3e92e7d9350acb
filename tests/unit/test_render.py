"""How deliveries become mails."""

from northbridge_email_worker.render import render
from northbridge_shared.events import Event
from northbridge_shared.jobs import Delivery, MailKind
from northbridge_shared.settings import MailSettings

MAIL = MailSettings(
    sender="nb@example.com", default_recipient="ops@example.com", message_id_domain="nb.example.com"
)


def delivery(mail: MailKind, **fields: str) -> Delivery:
    event = Event.model_validate({"name": "ada", "loc": "london", **fields})
    return Delivery(event_id="evt-1", topic="north-updates", mail=mail, event=event)


def test_notification_without_recipient_goes_to_default() -> None:
    """A seed north event becomes a notification to the configured default recipient."""
    message = render(delivery(MailKind.NOTIFICATION), MAIL)
    assert message["To"] == "ops@example.com"
    assert message["From"] == "nb@example.com"
    assert message["Subject"] == "Notification: ada in london"
    assert message["Message-ID"] == "<evt-1@nb.example.com>"
    assert "ada posted an update from london" in message.get_content()


def test_direct_mail_uses_the_event_fields() -> None:
    """A south event with recipient, subject and message is mailed as written."""
    message = render(
        delivery(MailKind.DIRECT, recipient="bob@example.com", subject="Hi", message="Body"),
        MAIL,
    )
    assert (message["To"], message["Subject"]) == ("bob@example.com", "Hi")
    assert message.get_content() == "Body\n"


def test_direct_mail_default_text_differs_from_notification() -> None:
    """South events without text get the direct-mail wording."""
    message = render(delivery(MailKind.DIRECT), MAIL)
    assert message["Subject"] == "Message for ada (london)"
