"""The pipeline's own processes as the local stack runs them: gateway, bridge, email workers."""

import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from northbridge_stack.layout import StackLayout
from northbridge_stack.ports import LOOPBACK
from northbridge_stack.processes import ManagedProcess

GATEWAY = "gateway"
BRIDGE = "bridge"
WORKER = "email-worker"
# Bridge and workers serve no HTTP: a line they log once they consume is the readiness
# signal (the bridge's own event after joining the group; rq's once it watches its queues).
BRIDGE_READY_LINE = "partitions_assigned"
WORKER_READY_LINE = "*** Listening on"


@dataclass(frozen=True)
class Service:
    """One process of the pipeline, started as ``python -m <module>`` from this venv."""

    name: str
    module: str
    ready_line: str = ""

    def argv(self) -> list[str]:
        """The command; ``sys.executable`` is the venv's python, so no activation is needed."""
        return [sys.executable, "-m", self.module]

    def process(self, layout: StackLayout) -> ManagedProcess:
        """The process with its log and pid file in the stack's folder."""
        return ManagedProcess(
            self.name, log_file=layout.log(self.name), pid_file=layout.pid(self.name)
        )


def pipeline(workers: int) -> list[Service]:
    """Gateway, bridge and ``workers`` email workers, in start order."""
    return [gateway(), bridge(), *(worker(number) for number in range(1, workers + 1))]


def gateway() -> Service:
    """The HTTP gateway (its readiness is ``GET /readyz``, see :func:`gateway_ready`)."""
    return Service(GATEWAY, "northbridge_gateway")


def bridge() -> Service:
    """The Kafka → RQ bridge."""
    return Service(BRIDGE, "northbridge_bridge", BRIDGE_READY_LINE)


def worker(number: int) -> Service:
    """The email worker with this number (``email-worker-1``, ...)."""
    return Service(f"{WORKER}-{number}", "northbridge_email_worker", WORKER_READY_LINE)


def started_workers(layout: StackLayout) -> list[int]:
    """The numbers of the workers that have a pid file (running or not), ascending."""
    numbers = (path.stem.removeprefix(f"{WORKER}-") for path in layout.pids.glob(f"{WORKER}-*.pid"))
    return sorted(int(number) for number in numbers if number.isdigit())


def service_env(layout: StackLayout) -> dict[str, str]:
    """The environment of every service: the user's, pointed at this stack.

    Where to find Kafka, Redis and SMTP is the stack's to say (it started them); every other
    setting the user exported wins, e.g. ``LOG_FORMAT=console`` or ``GATEWAY_WORKERS=4``.
    """
    env = dict(os.environ)
    env.setdefault("GATEWAY_HOST", LOOPBACK)
    return env | {
        "KAFKA_BOOTSTRAP_SERVERS": f"{LOOPBACK}:{layout.kafka_port}",
        "REDIS_URL": f"redis://{LOOPBACK}:{layout.redis_port}/0",
        "SMTP_HOST": LOOPBACK,
        "SMTP_PORT": str(layout.smtp_port),
        "GATEWAY_PORT": str(layout.gateway_port),
        "PYTHONUNBUFFERED": "1",
    }


def gateway_ready(port: int) -> bool:
    """Whether the gateway answers ``GET /readyz`` with 200 (it can publish to Kafka now)."""
    url = f"http://{LOOPBACK}:{port}/readyz"
    # No proxy: an http_proxy in the environment must not carry a loopback probe elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
