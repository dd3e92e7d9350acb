"""The email-worker's Prometheus metrics: attempts by outcome, mails, SMTP time.

rq calls the deliver job by its dotted path, with only its arguments, so the job finds the
process's metrics here (created once, on first use) and ``main`` serves the same registry.
In ``WORKER_MODE=fork`` each job runs in a child process whose counts die with it: these
counters then stay at zero (queue depths, from the bridge, still show the work).
"""

from functools import cache

from prometheus_client import CollectorRegistry, Counter, Histogram

from northbridge_shared.metrics import events_counter


class WorkerMetrics:
    """What a worker process counts, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.attempts = Counter(
            "northbridge_mail_attempts",
            "Delivery attempts by outcome: sent, failed, in_progress, already_sent, unconfirmed",
            ["topic", "outcome"],
            registry=registry,
        )
        self.events = events_counter(registry)
        self.smtp = Histogram(
            "northbridge_smtp_duration_seconds",
            "One SMTP session: connect, (STARTTLS, login,) send, the server's reply",
            registry=registry,
        )


@cache
def worker_metrics() -> WorkerMetrics:
    """The metrics of this process."""
    return WorkerMetrics()
