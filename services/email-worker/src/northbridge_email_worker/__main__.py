"""``python -m northbridge_email_worker``: run one rq worker on both queues."""

from northbridge_email_worker.worker import build_worker
from northbridge_shared import logging
from northbridge_shared.settings import (
    LogSettings,
    MailSettings,
    RedisSettings,
    SmtpSettings,
    WorkerSettings,
    load,
)


def main() -> None:
    """Read settings, configure logging, work until SIGTERM (the current job finishes first)."""
    log_settings = load(LogSettings)
    logging.configure(log_settings, service="email-worker")
    load(SmtpSettings), load(MailSettings)  # fail at start, not at the first job
    worker = build_worker(load(WorkerSettings), load(RedisSettings))
    # The scheduler moves retries with a backoff interval back onto their queue.
    worker.work(with_scheduler=True, logging_level=log_settings.level)


if __name__ == "__main__":
    main()
