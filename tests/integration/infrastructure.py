"""Kafka, Redis and Mailpit for the integration tests: compose's containers, or processes.

When a Docker engine and Compose v2 answer, testcontainers brings up compose.yaml's own
``kafka``, ``kafka-init``, ``redis`` and ``mailpit`` services (the images compose uses: the
offline stand-ins where deploy/offline/images.env names them) as a project of their own, on
free loopback ports, and removes it with its volumes afterwards. Without an engine the local
stack's starters run the same parts as processes. ``NORTHBRIDGE_TEST_INFRA=containers`` or
``processes`` forces one; CI runs the containers.

Either way the tests get the same handles: a :class:`KafkaBroker` (its bootstrap servers, and
Kafka's command-line tools from the Maven jars), a Redis URL and a :class:`Mailpit`.
"""

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testcontainers.compose import DockerCompose

from northbridge_stack.kafka import KafkaBroker, KafkaCluster
from northbridge_stack.mailpit import Mailpit
from northbridge_stack.ports import LOOPBACK, free_port
from northbridge_stack.redis_server import RedisServer
from northbridge_stack.topics import create_topics

ROOT = Path(__file__).resolve().parents[2]
OFFLINE_IMAGES = ROOT / "deploy" / "offline" / "images.env"
SERVICES = ["kafka", "kafka-init", "redis", "mailpit"]
CHOICE = "NORTHBRIDGE_TEST_INFRA"


@dataclass(frozen=True)
class Infrastructure:
    """Where the parts the services need are, and how they run."""

    kafka: KafkaBroker
    redis_url: str
    mailpit: Mailpit


@contextmanager
def infrastructure(home: Path) -> Iterator[Infrastructure]:
    """Kafka (with the pipeline's topics), Redis and Mailpit, ready; removed on exit."""
    with (containers if use_containers() else processes)(home) as parts:
        yield parts


def use_containers() -> bool:
    """Whether the tests run compose's containers (else the local stack's processes)."""
    forced = os.environ.get(CHOICE, "")
    if forced not in ("", "containers", "processes"):
        raise ValueError(f"{CHOICE} must be containers or processes, not {forced!r}")
    chosen = forced == "containers" or (not forced and engine_answers())
    # Where compose is required (CI), the containers are too: no quiet fall-back to processes.
    if os.environ.get("NORTHBRIDGE_REQUIRE_COMPOSE") == "1" and not chosen:
        raise RuntimeError("NORTHBRIDGE_REQUIRE_COMPOSE=1, but no Docker engine answers")
    return chosen


def engine_answers() -> bool:
    """Whether a Docker engine and the Compose v2 plugin both respond."""
    if shutil.which("docker") is None:
        return False
    for argv in (["docker", "info"], ["docker", "compose", "version"]):
        try:
            subprocess.run(argv, capture_output=True, timeout=30, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            return False
    return True


@contextmanager
def containers(home: Path) -> Iterator[Infrastructure]:
    """compose.yaml's infrastructure services, published on free ports of 127.0.0.1."""
    ports = {
        name: free_port()
        for name in ("KAFKA", "REDIS", "SMTP", "MAILPIT")  # PUBLISH_<name>_PORT
    }
    settings = {
        "COMPOSE_PROJECT_NAME": f"northbridge-it-{secrets.token_hex(4)}",
        "PUBLISH_ADDRESS": LOOPBACK,
        "PUBLISH_KAFKA_HOST": LOOPBACK,  # what Kafka advertises to programs on this host
        **{f"PUBLISH_{name}_PORT": str(port) for name, port in ports.items()},
        "MAILPIT_MAX_MESSAGES": "0",  # keep every mail: the tests count them
    }
    home.mkdir(parents=True, exist_ok=True)
    env_file = home / "compose.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    # Later files win: the stand-in images first, this run's ports and project after.
    files = [str(OFFLINE_IMAGES)] if OFFLINE_IMAGES.exists() else []
    with DockerCompose(ROOT, env_file=[*files, str(env_file)], services=SERVICES, wait=True):
        yield Infrastructure(
            # Not started here: it names the published port and runs Kafka's tools against it.
            kafka=KafkaBroker(home / "kafka-tools", port=ports["KAFKA"]),
            redis_url=f"redis://{LOOPBACK}:{ports['REDIS']}/0",
            mailpit=Mailpit(home / "mailpit", ports["SMTP"], ports["MAILPIT"]),
        )


@contextmanager
def processes(home: Path) -> Iterator[Infrastructure]:
    """The local stack's starters on free ports, attached to this test run."""
    with (
        kafka_broker(home / "kafka") as kafka,
        RedisServer(home / "redis", port=free_port()) as redis,
        Mailpit(
            home / "mailpit", smtp_port=free_port(), http_port=free_port(), max_messages=0
        ) as mailpit,
    ):
        yield Infrastructure(kafka, redis.url, mailpit)


@contextmanager
def kafka_broker(home: Path) -> Iterator[KafkaBroker]:
    """A broker process on free ports with the pipeline's topics, stopped on exit."""
    with KafkaBroker(home, port=free_port(), controller_port=free_port()) as broker:
        create_topics(broker.bootstrap_servers)
        yield broker


@dataclass(frozen=True)
class Cluster:
    """Three Kafka nodes with the pipeline's topics (3 replicas), and a way to kill one."""

    bootstrap_servers: str  # every node's address
    nodes: dict[int, str]  # node id -> its address
    kill: Callable[[int], None]  # SIGKILL node N, which stays dead


@contextmanager
def kafka_cluster(home: Path) -> Iterator[Cluster]:
    """Kafka as ``make up KAFKA_NODES=3`` runs it: compose's three containers, or processes."""
    with (cluster_containers if use_containers() else cluster_processes)(home) as cluster:
        yield cluster


@contextmanager
def cluster_containers(home: Path) -> Iterator[Cluster]:
    """compose.yaml with compose.kafka-3.yaml: kafka, kafka-2, kafka-3 and kafka-init."""
    ports = {node: free_port() for node in (1, 2, 3)}
    settings = {
        "COMPOSE_PROJECT_NAME": f"northbridge-it-{secrets.token_hex(4)}",
        "PUBLISH_ADDRESS": LOOPBACK,
        "PUBLISH_KAFKA_HOST": LOOPBACK,
        "PUBLISH_KAFKA_PORT": str(ports[1]),
        "PUBLISH_KAFKA_2_PORT": str(ports[2]),
        "PUBLISH_KAFKA_3_PORT": str(ports[3]),
    }
    home.mkdir(parents=True, exist_ok=True)
    env_file = home / "compose.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    files = [str(OFFLINE_IMAGES)] if OFFLINE_IMAGES.exists() else []
    names = {1: "kafka", 2: "kafka-2", 3: "kafka-3"}
    with DockerCompose(
        ROOT,
        compose_file_name=["compose.yaml", "compose.kafka-3.yaml"],
        env_file=[*files, str(env_file)],
        services=[*names.values(), "kafka-init"],
        wait=True,
    ) as compose:

        def kill(node: int) -> None:
            container = compose.get_container(names[node]).ID
            assert container, f"compose has no container for {names[node]}"
            docker = shutil.which("docker") or "docker"
            subprocess.run([docker, "kill", "--signal", "KILL", container], check=True)

        nodes = {node: f"{LOOPBACK}:{port}" for node, port in ports.items()}
        yield Cluster(",".join(nodes.values()), nodes, kill)


@contextmanager
def cluster_processes(home: Path) -> Iterator[Cluster]:
    """Three local-stack nodes on free ports, attached to this test run."""
    ports = [(free_port(), free_port()) for _ in range(3)]
    with KafkaCluster(home, ports).running() as cluster:
        create_topics(cluster.bootstrap_servers, nodes=len(ports))
        brokers = {broker.node_id: broker for broker in cluster.brokers}

        def kill(node: int) -> None:
            pid = brokers[node].process.pid
            assert pid is not None, f"Kafka node {node} is not running"
            os.kill(pid, signal.SIGKILL)

        nodes = {node: broker.bootstrap_servers for node, broker in brokers.items()}
        yield Cluster(cluster.bootstrap_servers, nodes, kill)
