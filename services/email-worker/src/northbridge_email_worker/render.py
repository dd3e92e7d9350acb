"""What a delivery looks like as a mail. Pure: no I/O, easy to test.

Mail in plain ASCII (most of it: the default texts, ASCII names and addresses) is built
with the ``email`` package's legacy API, which stores headers as given; the modern one
parses and re-checks every header, and cost 0.6 ms a mail, a sixth of a worker's CPU
(make bench --profile), against 0.05 ms. The fields were checked at the gateway (single
lines, no control characters, valid addresses), so nothing is left to check here. Anything
beyond ASCII, or a body line the modern API would re-encode, goes the modern way, which
encodes headers and body as RFC 2047, RFC 6532 and MIME require.
"""

from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.utils import formatdate

from northbridge_email_worker.settings import MailSettings
from northbridge_shared.jobs import Delivery, MailKind

MAX_LINE = 78  # email.policy.default's max_line_length: longer lines are re-encoded


def render(delivery: Delivery, mail: MailSettings) -> Message:
    """The mail for ``delivery``: its event id is the Message-ID, so receivers can dedupe."""
    event = delivery.event
    headers = {
        "From": mail.sender,
        "To": event.recipient or mail.default_recipient,
        "Subject": event.subject or _default_subject(delivery),
        "Date": formatdate(usegmt=True),
        "Message-ID": message_id(delivery.event_id, mail.message_id_domain),
        "X-Northbridge-Topic": delivery.topic,
    }
    body = event.message or _default_body(delivery)
    message: Message
    if _plain(body) and all(value.isascii() for value in headers.values()):
        # 7bit, and a final newline, as the modern API writes them.
        message = MIMEText(body if body.endswith("\n") else body + "\n", "plain", "us-ascii")
    else:
        message = EmailMessage()
        message.set_content(body)
    for name, value in headers.items():
        message[name] = value
    return message


def _plain(body: str) -> bool:
    """ASCII in lines the modern API would send as they are (7bit): none over 78 characters."""
    return body.isascii() and all(len(line) <= MAX_LINE for line in body.splitlines())


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
