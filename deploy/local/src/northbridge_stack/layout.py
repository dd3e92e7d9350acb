"""Where the local stack keeps its state, and which ports it uses.

Everything lives under one ignored folder, ``.stack/`` at the repository root: Kafka's and
Redis's data, Mailpit's database, every process's log, supervisord's files, and the Kafka tool
wrappers. Deleting the folder (with the stack down) resets the stack.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from northbridge_stack.errors import StackError
from northbridge_stack.kafka import KafkaBroker, KafkaCluster, cluster_sizes
from northbridge_stack.mailpit import DEFAULT_MAX_MESSAGES, Mailpit
from northbridge_stack.redis_server import RedisServer
from northbridge_stack.supervisor import Supervisor

MAX_PORT = 65535
# Variable, default: one place for the ports, so a clash is fixed by setting a variable.
PORT_VARIABLES = {
    "STACK_KAFKA_PORT": 9092,
    "STACK_KAFKA_CONTROLLER_PORT": 9093,
    "STACK_REDIS_PORT": 6379,
    "STACK_SMTP_PORT": 1025,  # Mailpit's SMTP
    "STACK_MAILPIT_PORT": 8025,  # Mailpit's web UI and API
    "GATEWAY_PORT": 9000,  # read by the gateway itself too
    "BRIDGE_METRICS_PORT": 9101,  # read by the bridge itself too
    "WORKER_METRICS_PORT": 9102,  # email-worker-N serves /metrics on this port + N - 1
    "DASHBOARD_PORT": 9180,  # read by the dashboard itself too
    # Kafka's nodes 2 and 3, with KAFKA_NODES=3 (node 1 is STACK_KAFKA_PORT): as compose
    # publishes them, so a client on this host finds each node at the same port in both modes.
    "STACK_KAFKA_2_PORT": 9094,
    "STACK_KAFKA_2_CONTROLLER_PORT": 9095,
    "STACK_KAFKA_3_PORT": 9096,
    "STACK_KAFKA_3_CONTROLLER_PORT": 9097,
}
# The cluster size `up` started, kept in the stack's folder until `down`, so that later
# commands (ps, produce, logs) and a second `up` reach the same nodes without KAFKA_NODES.
NODES_FILE = "kafka-nodes"


@dataclass(frozen=True)
class StackLayout:
    """The stack's folder and ports."""

    root: Path
    kafka_port: int
    controller_port: int
    redis_port: int
    smtp_port: int
    mailpit_port: int
    gateway_port: int
    bridge_metrics_port: int
    worker_metrics_port: int  # the first worker's
    dashboard_port: int
    kafka_2_port: int
    kafka_2_controller_port: int
    kafka_3_port: int
    kafka_3_controller_port: int
    mailpit_max_messages: int = DEFAULT_MAX_MESSAGES  # MAILPIT_MAX_MESSAGES, as in compose
    kafka_nodes: int = 1  # KAFKA_NODES: 1, or 3 for replicas on three nodes

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "StackLayout":
        """``STACK_HOME`` (default ``<repo>/.stack``) and the ports from the environment.

        ``KAFKA_NODES`` when set, else the size the running stack was started with.
        """
        root = Path(environ.get("STACK_HOME") or repo_root() / ".stack").resolve()
        ports = [_number(environ, name, default) for name, default in PORT_VARIABLES.items()]
        limit = _number(environ, "MAILPIT_MAX_MESSAGES", DEFAULT_MAX_MESSAGES, port=False)
        nodes = _kafka_nodes(environ.get("KAFKA_NODES", "").strip(), root / NODES_FILE)
        return replace(cls(root, *ports), mailpit_max_messages=limit, kafka_nodes=nodes)

    @property
    def logs(self) -> Path:
        """Every process's log file: ``<name>.log``."""
        return self.root / "logs"

    @property
    def bin(self) -> Path:
        """Wrapper scripts for Kafka's command-line tools."""
        return self.root / "bin"

    def log(self, name: str) -> Path:
        """The log file of the process called ``name``."""
        return self.logs / f"{name}.log"

    def supervisor(self) -> Supervisor:
        """The stack's supervisord: configuration in ``supervisor/``, program logs in ``logs/``."""
        return Supervisor(self.root / "supervisor", self.logs)

    def kafka(self) -> KafkaBroker:
        """The stack's first Kafka node: where its tools and probes connect."""
        return self.kafka_brokers()[0]

    def kafka_brokers(self) -> list[KafkaBroker]:
        """The stack's Kafka nodes: config, data and readiness (supervisord runs them).

        One node keeps ``kafka/``; three keep ``kafka-3-nodes/node-N/``: a cluster never
        starts on a one-node cluster's data (its topics have one replica), nor the reverse.
        """
        if self.kafka_nodes == 1:
            return [KafkaBroker(self.root / "kafka", self.kafka_port, self.controller_port)]
        ports = [
            (self.kafka_port, self.controller_port),
            (self.kafka_2_port, self.kafka_2_controller_port),
            (self.kafka_3_port, self.kafka_3_controller_port),
        ][: self.kafka_nodes]
        return KafkaCluster(self.root / f"kafka-{self.kafka_nodes}-nodes", ports).brokers

    @property
    def kafka_bootstrap_servers(self) -> str:
        """Every node's address, as the services get it."""
        return ",".join(broker.bootstrap_servers for broker in self.kafka_brokers())

    def remember_kafka_nodes(self) -> None:
        """Keep the cluster size for the commands after ``up`` (see NODES_FILE)."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / NODES_FILE).write_text(f"{self.kafka_nodes}\n")

    def forget_kafka_nodes(self) -> None:
        """After ``down``: the next ``up`` starts the size it is asked for, else one node."""
        (self.root / NODES_FILE).unlink(missing_ok=True)

    def redis(self) -> RedisServer:
        """The stack's Redis: its config, data and readiness (supervisord runs it)."""
        return RedisServer(self.root / "redis", self.redis_port)

    def mailpit(self) -> Mailpit:
        """The stack's Mailpit: its database and readiness (supervisord runs it)."""
        return Mailpit(
            self.root / "mailpit",
            self.smtp_port,
            self.mailpit_port,
            max_messages=self.mailpit_max_messages,
        )


def repo_root(start: Path | None = None) -> Path:
    """The workspace root (the folder with ``uv.lock``) above ``start``, else ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "uv.lock").is_file():
            return folder
    return here


def _kafka_nodes(value: str, remembered: Path) -> int:
    if not value and remembered.is_file():
        value = remembered.read_text().strip()
    sizes = cluster_sizes()
    if not value:
        return 1
    if not value.isdigit() or int(value) not in sizes:
        raise StackError(
            f"KAFKA_NODES must be {' or '.join(map(str, sizes))} "
            f"(deploy/kafka/nodes-N.properties), not {value!r}"
        )
    return int(value)


def _number(environ: Mapping[str, str], name: str, default: int, *, port: bool = True) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or (port and not 0 < int(value) <= MAX_PORT):
        what = "a TCP port number" if port else "a count (0: no limit)"
        raise StackError(f"{name} must be {what}, not {value!r}")
    return int(value)
