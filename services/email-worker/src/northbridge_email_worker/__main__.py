"""``python -m northbridge_email_worker``: run one rq worker on both queues."""

from northbridge_email_worker.metrics import worker_metrics
from northbridge_email_worker.settings import MailSettings, SmtpSettings, WorkerSettings
from northbridge_email_worker.worker import work
from northbridge_shared import logging, tracing
from northbridge_shared.metrics import serve as serve_metrics
from northbridge_shared.settings import (
    LogSettings,
    MetricsSettings,
    ReceiptSettings,
    RedisSettings,
    load,
)


def main() -> None:
    """Read settings, configure logging, work until SIGTERM (the current job finishes first).

    Redis may be away at start or later: the worker waits for it, never exits for it.
    """
    log_settings = load(LogSettings)
    logging.configure(log_settings, service="email-worker")
    load(SmtpSettings), load(MailSettings), load(ReceiptSettings)  # fail now, not at a job
    settings = load(WorkerSettings)
    serve_metrics(load(MetricsSettings).host, settings.metrics_port, worker_metrics().registry)
    tracing.configure("email-worker")
    try:
        work(settings, load(RedisSettings), settings.rq_log_level)
    finally:
        tracing.shutdown()  # spans still queued go out


if __name__ == "__main__":
    main()
