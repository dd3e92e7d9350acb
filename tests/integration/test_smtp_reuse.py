"""A worker keeps its SMTP connection across mails, and replaces one the server dropped."""

from functools import partial

import pytest

from northbridge_email_worker import smtp
from northbridge_email_worker.render import render
from northbridge_email_worker.settings import MailSettings, SmtpSettings
from northbridge_shared.jobs import Delivery
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.mailpit import Mailpit


def delivery(number: int) -> Delivery:
    event = {"name": f"ada-{number}", "loc": "x"}
    return Delivery.model_validate(
        {"event_id": f"reuse-{number}", "topic": "south-updates", "mail": "direct", "event": event}
    )


@pytest.fixture
def sink(own_mailpit: Mailpit) -> Mailpit:
    return own_mailpit


def mailer(sink: Mailpit, mails_per_connection: int = 100) -> smtp.Mailer:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=sink.smtp_port,
        timeout_s=10,
        mails_per_connection=mails_per_connection,
    )
    return smtp.Mailer(settings)


def subjects(sink: Mailpit) -> list[str]:
    return sorted(mail.subject for mail in Mailbox(sink.url).all())


def test_mails_share_one_connection(sink: Mailpit) -> None:
    commits: list[int] = []
    kept = mailer(sink)
    for number in range(3):
        reply = kept.send(render(delivery(number), MailSettings()), partial(commits.append, number))
        assert reply.startswith("250")
    kept.close()
    assert kept.connections == 1
    assert commits == [0, 1, 2]
    assert len(Mailbox(sink.url).all()) == 3


def test_a_connection_is_replaced_after_its_quota_of_mails(sink: Mailpit) -> None:
    kept = mailer(sink, mails_per_connection=2)
    for number in range(5):
        kept.send(render(delivery(number), MailSettings()), lambda: None)
    kept.close()
    assert kept.connections == 3  # 2 + 2 + 1
    assert len(Mailbox(sink.url).all()) == 5


def test_a_connection_the_server_dropped_is_replaced_and_the_mail_sent_once(
    sink: Mailpit,
) -> None:
    """Mailpit restarts between two mails: the kept connection is dead, nothing is lost."""
    commits: list[int] = []
    kept = mailer(sink)
    kept.send(render(delivery(1), MailSettings()), lambda: commits.append(1))
    sink.stop()
    sink.start()
    kept.send(render(delivery(2), MailSettings()), lambda: commits.append(2))
    kept.close()
    assert kept.connections == 2
    assert commits == [1, 2]  # the second mail committed once, on the new connection
    assert len(Mailbox(sink.url).all()) == 2


def test_a_send_that_fails_on_a_new_connection_is_not_repeated(sink: Mailpit) -> None:
    """Only a kept connection is retried: a server that is down fails the attempt at once."""
    kept = mailer(sink)
    sink.stop()
    with pytest.raises(ConnectionRefusedError):
        kept.send(render(delivery(1), MailSettings()), lambda: None)
    assert kept.connections == 0
