"""The job rq runs, found by the dotted path ``northbridge_shared.contracts.DELIVER_JOB``."""

from functools import cache
from typing import Any

import structlog
from redis import Redis
from rq import get_current_job

from northbridge_email_worker import smtp
from northbridge_email_worker.render import render
from northbridge_email_worker.send_record import Claim, SendRecord
from northbridge_shared.jobs import Delivery
from northbridge_shared.settings import MailSettings, SmtpSettings, WorkerSettings, load

log = structlog.get_logger(__name__)


class SendInProgressError(Exception):
    """Another attempt holds the send lease; rq retries this job later."""


@cache
def _settings() -> tuple[WorkerSettings, SmtpSettings, MailSettings]:
    # rq calls jobs by path with only their arguments, so settings are read once per
    # process here; main() has already loaded them once to fail fast on bad values.
    return load(WorkerSettings), load(SmtpSettings), load(MailSettings)


def deliver(payload: dict[str, Any]) -> str:
    """Mail one event, at most once per event id."""
    delivery = Delivery.model_validate(payload)
    worker, smtp_settings, mail = _settings()
    with structlog.contextvars.bound_contextvars(event_id=delivery.event_id):
        record = SendRecord(_redis(), worker.send_lease_s, worker.send_record_ttl_s)
        claim = record.claim(delivery.event_id)
        if claim is Claim.SENT:
            log.info("mail_already_sent")
            return claim.value
        if claim is Claim.SENDING:
            raise SendInProgressError(f"event {delivery.event_id} is being sent by another attempt")
        message = render(delivery, mail)
        try:
            with smtp.session(smtp_settings) as client:
                smtp.send(client, message, commit=lambda: record.commit(delivery.event_id))
        except smtp.UnconfirmedError as error:
            # Recorded as sent, and maybe it was: at most one mail, so it is not sent again.
            log.exception("mail_unconfirmed", to=message["To"], error=str(error))
            return Claim.SENT.value
        except BaseException:
            record.release(delivery.event_id)  # the server has not accepted it: retry at once
            raise
        log.info("mail_sent", to=message["To"], topic=delivery.topic, mail=delivery.mail.value)
        return Claim.SENT.value


def _redis() -> Redis:
    job = get_current_job()
    if job is None:
        raise RuntimeError("deliver runs inside an rq worker")
    return job.connection
