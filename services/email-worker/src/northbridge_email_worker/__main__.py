"""``python -m northbridge_email_worker``: run one rq worker on both queues."""

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError

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
    worker_settings, redis_settings = load(WorkerSettings), load(RedisSettings)
    try:
        worker = build_worker(worker_settings, redis_settings)  # rq names its connection here
        # The scheduler moves retries with a backoff interval back onto their queue.
        worker.work(with_scheduler=True, logging_level=log_settings.level)
    except RedisConnectionError as error:
        # Mostly at start: while waiting for jobs rq retries a lost connection with backoff.
        # One line instead of a traceback; the process manager (compose's restart policy)
        # starts the worker again.
        structlog.get_logger(__name__).error("redis_unreachable", error=str(error))
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
