"""A worker delivers over STARTTLS with a login to a Mailpit that demands both.

The certificates are made here by trustme (a CA of the test's own, a server certificate for
127.0.0.1); the worker trusts that CA through SMTP_CA_FILE and reads its password from
SMTP_PASSWORD_FILE, as compose and Kubernetes secrets provide it.
"""

import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rq.serializers import JSONSerializer

from northbridge_email_worker.dequeue import SafeQueue
from northbridge_shared.contracts import DELIVER_JOB
from northbridge_stack import services
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.mailpit import Mailpit

from . import secured
from .conftest import Pipeline, spawn
from .support import wait_for_mail
from .test_worker import payload

PASSWORD = "s3cret-" + uuid.uuid4().hex  # the test greps the worker's log for it


@dataclass
class Secured:
    mailpit: Mailpit
    ca_file: Path
    password_file: Path


@pytest.fixture
def secured_smtp(tmp_path: Path) -> Iterator[Secured]:
    certs = secured.certificates(tmp_path / "tls")
    with secured.mailpit(tmp_path / "mailpit", certs, PASSWORD) as mailpit:
        yield Secured(mailpit, certs.ca, secured.secret_file(tmp_path, "password", PASSWORD))


def test_a_plain_client_is_refused(secured_smtp: Secured) -> None:
    """The server demands STARTTLS: what the worker does below is not optional."""
    with (
        smtplib.SMTP("127.0.0.1", secured_smtp.mailpit.smtp_port, timeout=10) as plain,
        pytest.raises(smtplib.SMTPException),
    ):
        plain.sendmail("a@example.com", ["b@example.com"], "Subject: x\r\n\r\nx")


def test_the_worker_sends_over_starttls_with_its_login(
    pipeline: Pipeline, secured_smtp: Secured, tmp_path: Path
) -> None:
    queue_name = f"TlsQueue{uuid.uuid4().hex[:6]}"
    env = pipeline.env | {
        "WORKER_QUEUES": f'["{queue_name}"]',
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(secured_smtp.mailpit.smtp_port),
        "SMTP_STARTTLS": "true",
        "SMTP_CA_FILE": str(secured_smtp.ca_file),
        "SMTP_USERNAME": secured.USER,
        "SMTP_PASSWORD_FILE": str(secured_smtp.password_file),
    }
    worker = spawn(services.worker(97), tmp_path, env)
    try:
        queue = SafeQueue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
        event_id = f"tls-{uuid.uuid4()}"
        queue.enqueue(DELIVER_JOB, payload(event_id), job_id=event_id)
        (mail,) = wait_for_mail(Mailbox(secured_smtp.mailpit.url), event_id, timeout=60)
        assert mail.event_id == event_id
    finally:
        worker.stop()
    assert PASSWORD not in worker.log_since_spawn()
