"""One real pipeline per test session, all on free loopback ports.

Kafka, Redis and Mailpit are compose's containers started with testcontainers when a Docker
engine answers, else the local stack's starters (see infrastructure.py); the three services
run as real processes, each waited for by its own health check.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from redis import Redis

from northbridge_shared.contracts import EMAIL_QUEUE, NOTIFICATION_QUEUE
from northbridge_stack import services
from northbridge_stack.kafka import KafkaBroker
from northbridge_stack.mailbox import Mailbox
from northbridge_stack.mailpit import Mailpit
from northbridge_stack.ports import free_port
from northbridge_stack.processes import ManagedProcess
from northbridge_stack.services import Service
from northbridge_stack.supervisor import OUR_PREFIXES

from .infrastructure import Infrastructure, infrastructure
from .otlp import Receiver, receiving

pytestmark = pytest.mark.integration

WORKERS = 2
PRIVATE_DB = 9  # for tests of Redis writes the pipeline's workers must not see
QUEUES = (NOTIFICATION_QUEUE, EMAIL_QUEUE)


@dataclass
class Pipeline:
    """The running system under test and the handles to observe and disturb it."""

    home: Path
    kafka: KafkaBroker
    redis: Redis
    mail: Mailbox
    env: dict[str, str]
    gateway_url: str
    http: httpx.Client
    traces: Receiver
    services: dict[str, ManagedProcess] = field(default_factory=dict)
    metrics_urls: dict[str, str] = field(default_factory=dict)  # of the bridge and workers
    envs: dict[str, dict[str, str]] = field(default_factory=dict)  # each service started with

    def start(self, service: Service, extra_env: dict[str, str] | None = None) -> ManagedProcess:
        """Run ``service`` as ``make up`` does, and wait until its health check passes.

        A bridge or a worker serves its metrics on a free port of its own, and beats a
        heartbeat file of its own (its health check reads it).
        """
        port = free_port()
        alive = str(self.home / f"{service.name}.alive")
        own = {
            "BRIDGE_METRICS_PORT": str(port),
            "WORKER_METRICS_PORT": str(port),
            "BRIDGE_HEARTBEAT_FILE": alive,
            "WORKER_HEARTBEAT_FILE": alive,
        }
        env = {**self.env, **own, **(extra_env or {})}
        process = spawn(service, self.home, env)
        self.envs[service.name] = env
        self.metrics_urls[service.name] = f"http://127.0.0.1:{port}/metrics"
        process.wait_until(
            lambda: process.running and services.ready(service, env),
            timeout=60,
            what="healthy",
        )
        self.services[service.name] = process
        return process

    def post(self, path: str, body: bytes | str, **headers: str) -> httpx.Response:
        """POST ``body`` as JSON unless a content-type is given."""
        headers.setdefault("content-type", "application/json")
        return self.http.post(path, content=body, headers=headers)


@pytest.fixture(scope="session")
def stack_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def infra(stack_home: Path) -> Iterator[Infrastructure]:
    """Kafka, Redis and Mailpit of the session: compose's containers, or processes."""
    with infrastructure(stack_home / "infra") as parts:
        yield parts


@pytest.fixture(scope="session")
def kafka(infra: Infrastructure) -> KafkaBroker:
    return infra.kafka


@pytest.fixture(scope="session")
def redis_url(infra: Infrastructure) -> str:
    return infra.redis_url


@pytest.fixture
def private_redis(redis_url: str) -> Iterator[Redis]:
    """An empty database of its own on the suite's Redis (the pipeline's workers use db 0)."""
    base, _, _ = redis_url.rpartition("/")
    client = Redis.from_url(f"{base}/{PRIVATE_DB}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def mailpit(infra: Infrastructure) -> Mailpit:
    """Mailpit keeping every mail of the session (the tests count them)."""
    return infra.mailpit


@pytest.fixture
def own_mailpit(tmp_path: Path) -> Iterator[Mailpit]:
    """A Mailpit of this test's own, to stop and start."""
    with Mailpit(tmp_path / "mailpit", smtp_port=free_port(), http_port=free_port()) as server:
        yield server


@pytest.fixture(scope="session")
def traces() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def pipeline(
    stack_home: Path, kafka: KafkaBroker, redis_url: str, mailpit: Mailpit, traces: Receiver
) -> Iterator[Pipeline]:
    with running_pipeline(stack_home, kafka, redis_url, mailpit, traces, workers=WORKERS) as system:
        yield system


@contextmanager
def running_pipeline(
    home: Path,
    kafka: KafkaBroker,
    redis_url: str,
    mailpit: Mailpit,
    traces: Receiver,
    *,
    workers: int,
    bootstrap_servers: str = "",
) -> Iterator[Pipeline]:
    """A gateway, a bridge and ``workers`` email-workers on these parts, stopped on exit.

    The services connect to ``bootstrap_servers`` (default: ``kafka``'s address).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES)}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers or kafka.bootstrap_servers,
        "REDIS_URL": redis_url,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailpit.smtp_port),
        "GATEWAY_HOST": "127.0.0.1",
        "METRICS_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "2",
        "GATEWAY_PUBLISH_TIMEOUT_S": "3",
        "GATEWAY_BODY_TIMEOUT_S": "2",
        "BRIDGE_POLL_TIMEOUT_MS": "200",
        "JOB_RETRY_INTERVALS_S": "[1, 1, 1, 1, 1]",
        "MAIL_MESSAGE_ID_DOMAIN": "test.northbridge",
        # The pipeline's bridge's (each other bridge a test starts beats a file of its own).
        "BRIDGE_HEARTBEAT_FILE": str(home / "bridge.alive"),
        # Every service traces to the receiver: the whole suite runs with tracing on.
        "OTEL_EXPORTER_OTLP_ENDPOINT": traces.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    redis = Redis.from_url(redis_url)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        url = f"http://127.0.0.1:{port}"
        mail = Mailbox(mailpit.url)
        system = Pipeline(home, kafka, redis, mail, env, url, http, traces)
        try:
            system.start(services.gateway())
            system.start(services.bridge())
            for number in range(1, workers + 1):
                system.start(services.worker(number))
            yield system
        finally:
            for process in reversed(list(system.services.values())):
                process.stop()
    redis.close()


def spawn(service: Service, home: Path, env: dict[str, str], name: str = "") -> ManagedProcess:
    """Start ``service`` (the local stack's own command for it) attached to this test run.

    A worker beats a heartbeat file of its own in ``home`` unless ``env`` names one.
    """
    name = name or service.name
    env = {"WORKER_HEARTBEAT_FILE": str(home / f"{name}.alive"), **env}
    process = ManagedProcess(name, log_file=home / f"{name}.log")
    process.spawn(service.argv(), env=env)
    return process


def status(http: httpx.Client, path: str) -> int:
    """The status of ``GET path``, or 0 while nothing listens."""
    try:
        return http.get(path).status_code
    except httpx.TransportError:
        return 0


def gateway_ready(http: httpx.Client) -> bool:
    """Whether the gateway answers /readyz with 200 (not yet listening counts as no)."""
    return status(http, "/readyz") == 200
