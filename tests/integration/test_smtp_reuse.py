"""A worker keeps its SMTP connection across mails, and replaces one the server dropped."""

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from northbridge_email_worker import smtp
from northbridge_email_worker.render import render
from northbridge_shared.jobs import Delivery
from northbridge_shared.settings import MailSettings, SmtpSettings
from northbridge_stack.ports import free_port
from northbridge_stack.smtp_sink import SmtpSink, read_mail


def delivery(number: int) -> Delivery:
    event = {"name": f"ada-{number}", "loc": "x"}
    return Delivery.model_validate(
        {"event_id": f"reuse-{number}", "topic": "south-updates", "mail": "direct", "event": event}
    )


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path / "mail", port=free_port()) as server:
        yield server


def mailer(sink: SmtpSink, mails_per_connection: int = 100) -> smtp.Mailer:
    settings = SmtpSettings(
        host="127.0.0.1", port=sink.port, timeout_s=10, mails_per_connection=mails_per_connection
    )
    return smtp.Mailer(settings)


def subjects(sink: SmtpSink) -> list[str]:
    return sorted(str(mail["Subject"]) for mail in read_mail(sink.maildir))


def test_mails_share_one_connection(sink: SmtpSink) -> None:
    commits: list[int] = []
    kept = mailer(sink)
    for number in range(3):
        reply = kept.send(render(delivery(number), MailSettings()), partial(commits.append, number))
        assert reply.startswith("250")
    kept.close()
    assert kept.connections == 1
    assert commits == [0, 1, 2]
    assert len(read_mail(sink.maildir)) == 3


def test_a_connection_is_replaced_after_its_quota_of_mails(sink: SmtpSink) -> None:
    kept = mailer(sink, mails_per_connection=2)
    for number in range(5):
        kept.send(render(delivery(number), MailSettings()), lambda: None)
    kept.close()
    assert kept.connections == 3  # 2 + 2 + 1
    assert len(read_mail(sink.maildir)) == 5


def test_a_connection_the_server_dropped_is_replaced_and_the_mail_sent_once(
    sink: SmtpSink,
) -> None:
    """The sink restarts between two mails: the kept connection is dead, nothing is lost."""
    commits: list[int] = []
    kept = mailer(sink)
    kept.send(render(delivery(1), MailSettings()), lambda: commits.append(1))
    sink.stop()
    sink.start()
    kept.send(render(delivery(2), MailSettings()), lambda: commits.append(2))
    kept.close()
    assert kept.connections == 2
    assert commits == [1, 2]  # the second mail committed once, on the new connection
    assert len(read_mail(sink.maildir)) == 2


def test_a_send_that_fails_on_a_new_connection_is_not_repeated(sink: SmtpSink) -> None:
    """Only a kept connection is retried: a server that is down fails the attempt at once."""
    kept = mailer(sink)
    sink.stop()
    with pytest.raises(ConnectionRefusedError):
        kept.send(render(delivery(1), MailSettings()), lambda: None)
    assert kept.connections == 0
