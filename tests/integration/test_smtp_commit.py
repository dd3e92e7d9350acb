"""The send is recorded between a mail's body and its end-of-data mark, against a real server."""

import time

import pytest

from northbridge_email_worker import smtp
from northbridge_email_worker.render import render
from northbridge_email_worker.settings import MailSettings, SmtpSettings
from northbridge_shared.jobs import Delivery
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.mailpit import Mailpit

DELIVERY = Delivery.model_validate(
    {
        "event_id": "commit-1",
        "topic": "south-updates",
        "mail": "direct",
        "event": {"name": "ada", "loc": "x", "message": ".a line that starts with a dot"},
    }
)


@pytest.fixture
def sink(own_mailpit: Mailpit) -> Mailpit:
    return own_mailpit


def settings(sink: Mailpit) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=sink.smtp_port, timeout_s=10)


def test_the_commit_comes_before_the_server_has_the_mail(sink: Mailpit) -> None:
    """At the commit the server holds nothing yet; after the send it holds the mail, whole."""
    held_at_commit: list[int] = []
    message = render(DELIVERY, MailSettings())
    with smtp.session(settings(sink)) as client:
        smtp.send(client, message, commit=lambda: held_at_commit.append(Mailbox(sink.url).count()))
    assert held_at_commit == [0]
    mailbox = Mailbox(sink.url)
    [mail] = mailbox.all()
    assert f"<{mail.message_id}>" == message["Message-ID"]
    assert (
        ".a line that starts with a dot" in mailbox.message(mail).get_content()
    )  # dot-stuffed, and undone


def test_a_failed_commit_sends_nothing_and_waits_for_nothing(sink: Mailpit) -> None:
    """Redis away at the commit: no end-of-data, the server drops the mail, no timeout hangs."""

    def commit() -> None:
        raise ConnectionError("Redis is away")

    started = time.monotonic()
    with pytest.raises(ConnectionError), smtp.session(settings(sink)) as client:
        smtp.send(client, render(DELIVERY, MailSettings()), commit)
    assert time.monotonic() - started < 5  # not the 10 s SMTP timeout: the socket was closed
    assert Mailbox(sink.url).all() == []
