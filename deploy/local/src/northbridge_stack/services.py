"""The pipeline's own processes as the local stack runs them: gateway, bridge, email workers."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from northbridge_stack.layout import StackLayout
from northbridge_stack.ports import LOOPBACK
from northbridge_stack.supervisor import Program, our_settings

GATEWAY = "gateway"
BRIDGE = "bridge"
WORKER = "email-worker"
DASHBOARD = "dashboard"
HEALTH_TIMEOUT_S = 10.0
# bridge-N serves /metrics on BRIDGE_METRICS_PORT + 100 (N - 1): clear of the workers' ports
# right above it (WORKER_METRICS_PORT + N - 1) for up to a hundred workers.
BRIDGE_PORT_STEP = 100


@dataclass(frozen=True)
class Service:
    """One process of the pipeline, started as ``python -m <module>`` from this venv."""

    name: str
    module: str
    args: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        """The command; ``sys.executable`` is the venv's python, so no activation is needed."""
        return [sys.executable, "-m", self.module, *self.args]


def pipeline(workers: int, bridges: int = 1) -> list[Service]:
    """Gateway, ``bridges`` bridges, ``workers`` email workers and the dashboard, in start order."""
    bridges_ = [bridge(number) for number in range(1, bridges + 1)]
    workers_ = [worker(number) for number in range(1, workers + 1)]
    return [gateway(), *bridges_, *workers_, dashboard()]


def gateway() -> Service:
    """The HTTP gateway (its readiness is ``GET /readyz``: it can publish to Kafka now)."""
    return Service(GATEWAY, "northbridge_gateway")


def bridge(number: int = 1) -> Service:
    """The Kafka → RQ bridge with this number: ``bridge``, then ``bridge-2``, ``bridge-3`` ...

    The first keeps the plain name that chaos, supervisorctl, its log and its heartbeat file
    have always used; more bridges join its consumer group and share the partitions.
    """
    return Service(BRIDGE if number == 1 else f"{BRIDGE}-{number}", "northbridge_bridge")


def dashboard() -> Service:
    """The operator's dashboard (``northbridge dashboard``); its readiness is ``GET /``."""
    return Service(DASHBOARD, "northbridge_ops", args=("dashboard",))


def worker(number: int) -> Service:
    """The email worker with this number (``email-worker-1``, ...)."""
    return Service(f"{WORKER}-{number}", "northbridge_email_worker")


def by_name(name: str) -> Service:
    """The service supervisord runs as ``name`` (``gateway``, ``email-worker-2``, ...)."""
    if name.startswith(f"{WORKER}-"):
        return worker(_number(name))
    if name.startswith(f"{BRIDGE}-"):
        return bridge(_number(name))
    return {GATEWAY: gateway, BRIDGE: bridge, DASHBOARD: dashboard}[name]()


def metrics_port(name: str, layout: StackLayout) -> int | None:
    """The /metrics port of the bridge or worker called ``name``; None for the others."""
    if name == BRIDGE or name.startswith(f"{BRIDGE}-"):
        return layout.bridge_metrics_port + BRIDGE_PORT_STEP * (_number(name) - 1)
    if name.startswith(f"{WORKER}-"):
        return layout.worker_metrics_port + _number(name) - 1
    return None


def _number(name: str) -> int:
    """``email-worker-3`` is 3; the plain ``bridge`` is 1."""
    _, _, number = name.rpartition("-")
    return int(number) if number.isdigit() else 1


def program(service: Service, layout: StackLayout) -> Program:
    """How supervisord runs ``service``: started after the infrastructure, given its drain."""
    env = service_env(layout) | own_files_and_ports(service.name, layout)
    if service.name.startswith(WORKER):
        # A worker finishes its job first: JOB_TIMEOUT_S (60 s) and a margin, as compose.
        return Program(service.name, service.argv(), 30, 70, env)
    # The gateway drains for GATEWAY_GRACEFUL_TIMEOUT_S (30 s); the bridge ends its batch.
    return Program(service.name, service.argv(), 20, 35, env)


def own_files_and_ports(name: str, layout: StackLayout) -> dict[str, str]:
    """A bridge's or worker's own /metrics port and heartbeat file (compose: per container)."""
    port = metrics_port(name, layout)
    if port is None:
        return {}
    prefix = "WORKER" if name.startswith(WORKER) else "BRIDGE"
    return {
        f"{prefix}_METRICS_PORT": str(port),
        f"{prefix}_HEARTBEAT_FILE": str(layout.root / f"{name}.alive"),
    }


def service_env(layout: StackLayout) -> dict[str, str]:
    """What every service's launcher exports: the user's settings, pointed at this stack.

    Where to find Kafka, Redis and SMTP is the stack's to say (it started them), and each
    bridge's and worker's metrics port and heartbeat (:func:`program`); every other northbridge
    setting the user exported wins, e.g. ``LOG_FORMAT=console`` or ``GATEWAY_WORKERS=4``.
    """
    env = our_settings(os.environ)
    env.setdefault("GATEWAY_HOST", LOOPBACK)
    env.setdefault("METRICS_HOST", LOOPBACK)
    env.setdefault("DASHBOARD_HOST", LOOPBACK)
    return env | {
        "KAFKA_BOOTSTRAP_SERVERS": layout.kafka_bootstrap_servers,
        "REDIS_URL": f"redis://{LOOPBACK}:{layout.redis_port}/0",
        "SMTP_HOST": LOOPBACK,
        "SMTP_PORT": str(layout.smtp_port),
        "GATEWAY_PORT": str(layout.gateway_port),
        "DASHBOARD_PORT": str(layout.dashboard_port),
        "PYTHONUNBUFFERED": "1",
    }


def ready(service: Service, env: Mapping[str, str]) -> bool:
    """Whether ``service`` (running with ``env``) serves, by its health check.

    The same check compose's healthcheck runs in its container: ``GET /readyz`` of the
    gateway, ``GET /`` of the dashboard, the bridge's and the worker's health commands. It
    is the one readiness signal of every mode, ``make up`` and the tests alike.
    """
    if service.module == "northbridge_gateway":
        return answers(f"http://{LOOPBACK}:{env['GATEWAY_PORT']}/readyz")
    if service.module == "northbridge_ops":
        return answers(f"http://{LOOPBACK}:{env['DASHBOARD_PORT']}/")
    if service.module == "northbridge_bridge":
        return _healthy(["northbridge_bridge.health"], env)
    return _healthy(["northbridge_email_worker.health"], env)


def serving(service: Service, layout: StackLayout) -> bool:
    """Whether ``service``, as the local stack runs it, passes its health check."""
    return ready(service, {**os.environ, **program(service, layout).env})


def _healthy(command: list[str], env: Mapping[str, str]) -> bool:
    """The service's own health command (as compose's healthcheck runs it) exits 0."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", *command],
            env=dict(env),
            capture_output=True,
            timeout=HEALTH_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def answers(url: str) -> bool:
    """Whether ``GET url`` answers 200."""
    # No proxy: an http_proxy in the environment must not carry a loopback probe elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
