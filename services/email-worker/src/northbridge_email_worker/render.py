"""What a delivery looks like as a mail. Pure: no I/O, easy to test."""

from email.message import EmailMessage
from email.utils import formatdate

from northbridge_shared.jobs import Delivery, MailKind
from northbridge_shared.settings import MailSettings


def render(delivery: Delivery, mail: MailSettings) -> EmailMessage:
    """The mail for ``delivery``: its event id is the Message-ID, so receivers can dedupe."""
    event = delivery.event
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = event.recipient or mail.default_recipient
    message["Subject"] = event.subject or _default_subject(delivery)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(delivery.event_id, mail.message_id_domain)
    message["X-Northbridge-Topic"] = delivery.topic
    message.set_content(event.message or _default_body(delivery))
    return message


def message_id(event_id: str, domain: str) -> str:
    """RFC 5322 ``msg-id``: the event id (already restricted to safe characters) at ``domain``."""
    return f"<{event_id}@{domain}>"


def _default_subject(delivery: Delivery) -> str:
    event = delivery.event
    if delivery.mail is MailKind.NOTIFICATION:
        return f"Notification: {event.name} in {event.loc}"
    return f"Message for {event.name} ({event.loc})"


def _default_body(delivery: Delivery) -> str:
    event = delivery.event
    if delivery.mail is MailKind.NOTIFICATION:
        return f"{event.name} posted an update from {event.loc}.\n\nEvent: {delivery.event_id}\n"
    return (
        f"Hello {event.name},\n\nthis message concerns {event.loc}.\n\nEvent: {delivery.event_id}\n"
    )
