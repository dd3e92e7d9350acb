"""A worker delivers over STARTTLS with a login to a Mailpit that demands both.

The certificates are made here by trustme (a CA of the test's own, a server certificate for
127.0.0.1); the worker trusts that CA through SMTP_CA_FILE and reads its password from
SMTP_PASSWORD_FILE, as compose and Kubernetes secrets provide it.
"""

import base64
import hashlib
import smtplib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from rq.serializers import JSONSerializer

from northbridge_email_worker.dequeue import SafeQueue
from northbridge_shared.contracts import DELIVER_JOB
from northbridge_stack import services
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.mailpit import Mailpit
from northbridge_stack.ports import free_port

from .conftest import Pipeline, spawn
from .support import wait_for_mail
from .test_worker import payload

USER = "northbridge"
PASSWORD = "s3cret-" + uuid.uuid4().hex  # the test greps the worker's log for it


@dataclass
class Secured:
    mailpit: Mailpit
    ca_file: Path
    password_file: Path


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    chain, key, ca_file = tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for pem in server.cert_chain_pems:
        pem.write_to_path(str(chain), append=True)
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    # Mailpit reads an htpasswd file; {SHA} is one of the hashes it takes.
    sha = base64.b64encode(hashlib.sha1(PASSWORD.encode()).digest()).decode()  # noqa: S324
    users = tmp_path / "smtp-users"
    users.write_text(f"{USER}:{{SHA}}{sha}\n")
    password_file = tmp_path / "smtp-password"
    password_file.write_text(PASSWORD + "\n")
    options = (
        f"--smtp-tls-cert={chain}",
        f"--smtp-tls-key={key}",
        "--smtp-require-starttls",
        f"--smtp-auth-file={users}",
    )
    with Mailpit(tmp_path / "mailpit", free_port(), free_port(), options=options) as mailpit:
        yield Secured(mailpit, ca_file, password_file)


def test_a_plain_client_is_refused(secured: Secured) -> None:
    """The server demands STARTTLS: what the worker does below is not optional."""
    with (
        smtplib.SMTP("127.0.0.1", secured.mailpit.smtp_port, timeout=10) as plain,
        pytest.raises(smtplib.SMTPException),
    ):
        plain.sendmail("a@example.com", ["b@example.com"], "Subject: x\r\n\r\nx")


def test_the_worker_sends_over_starttls_with_its_login(
    pipeline: Pipeline, secured: Secured, tmp_path: Path
) -> None:
    queue_name = f"TlsQueue{uuid.uuid4().hex[:6]}"
    env = pipeline.env | {
        "WORKER_QUEUES": f'["{queue_name}"]',
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(secured.mailpit.smtp_port),
        "SMTP_STARTTLS": "true",
        "SMTP_CA_FILE": str(secured.ca_file),
        "SMTP_USERNAME": USER,
        "SMTP_PASSWORD_FILE": str(secured.password_file),
    }
    worker = spawn(services.worker(97), tmp_path, env)
    try:
        queue = SafeQueue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
        event_id = f"tls-{uuid.uuid4()}"
        queue.enqueue(DELIVER_JOB, payload(event_id), job_id=event_id)
        (mail,) = wait_for_mail(Mailbox(secured.mailpit.url), event_id, timeout=60)
        assert mail.event_id == event_id
    finally:
        worker.stop()
    assert PASSWORD not in worker.log_since_spawn()
