"""The job rq runs, found by the dotted path ``northbridge_shared.contracts.DELIVER_JOB``."""

import atexit
from functools import cache
from typing import Any

import structlog
from rq import get_current_job
from rq.job import Job

from northbridge_email_worker import smtp, spans
from northbridge_email_worker.attempts import Attempts
from northbridge_email_worker.metrics import worker_metrics
from northbridge_email_worker.render import render
from northbridge_email_worker.send_record import Claim, SendRecord
from northbridge_email_worker.settings import MailSettings, SmtpSettings, WorkerSettings
from northbridge_shared import tracing
from northbridge_shared.jobs import Delivery
from northbridge_shared.settings import ReceiptSettings, load

log = structlog.get_logger(__name__)


class SendInProgressError(Exception):
    """Another attempt holds the send lease; rq retries this job later."""


@cache
def _settings() -> tuple[WorkerSettings, SmtpSettings, MailSettings, ReceiptSettings]:
    # rq calls jobs by path with only their arguments, so settings are read once per
    # process here; main() has already loaded them once to fail fast on bad values.
    return load(WorkerSettings), load(SmtpSettings), load(MailSettings), load(ReceiptSettings)


def deliver(payload: dict[str, Any]) -> str:
    """Mail one event, at most once per event id; each attempt is a span and a receipt hop."""
    delivery = Delivery.model_validate(payload)
    job = _job()
    try:
        with (
            structlog.contextvars.bound_contextvars(event_id=delivery.event_id),
            spans.attempt(job, delivery.event_id),
        ):
            return _attempt(job, delivery)
    finally:
        if _settings()[0].mode == "fork":
            # rq's job process ends with os._exit: queued spans would be lost, and the
            # connection is the child's, never used again.
            tracing.flush()
            _mailer().close()


def _attempt(job: Job, delivery: Delivery) -> str:
    """One try: claim the send, render, send, and note what happened."""
    worker, _, mail, receipt = _settings()
    event_id = delivery.event_id
    attempts = Attempts(job.connection, job, delivery, receipt.ttl_s)
    record = SendRecord(job.connection, worker.send_lease_s, worker.send_record_ttl_s)
    claim = record.claim(event_id)
    if claim is Claim.SENT:
        log.info("mail_already_sent")
        attempts.settled("already_sent")
        return claim.value
    if claim is Claim.SENDING:
        error = SendInProgressError(f"event {event_id} is being sent by another attempt")
        attempts.failed("in_progress", error)
        raise error
    message = render(delivery, mail)
    try:
        with worker_metrics().smtp.time():
            reply = _mailer().send(message, commit=lambda: record.commit(event_id))
    except smtp.UnconfirmedError as error:
        # Recorded as sent, and maybe it was: at most one mail, so it is not sent again.
        log.exception("mail_unconfirmed", to=message["To"], error=str(error))
        attempts.settled("unconfirmed", error=str(error))
        return Claim.SENT.value
    except BaseException as error:
        record.release(event_id)  # the server has not accepted it: retry at once
        attempts.failed("failed", error)
        raise
    log.info("mail_sent", to=message["To"], topic=delivery.topic, mail=delivery.mail.value)
    attempts.sent(message["Message-ID"], reply)
    return Claim.SENT.value


@cache
def _mailer() -> smtp.Mailer:
    # The worker process's one SMTP connection, kept across jobs; QUIT when it exits.
    mailer = smtp.Mailer(_settings()[1])
    atexit.register(mailer.close)
    return mailer


def _job() -> Job:
    job = get_current_job()
    if job is None:
        raise RuntimeError("deliver runs inside an rq worker")
    return job
