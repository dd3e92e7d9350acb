"""Apache Kafka in KRaft mode from Maven jars: one node, or a cluster of three.

Each node is one JVM, broker and controller (a voter of the quorum). The settings every node
shares are deploy/kafka/server.properties, then nodes-<N>.properties for the cluster's size.
"""

import asyncio
import base64
import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from northbridge_stack.errors import StackError
from northbridge_stack.jars import kafka_classpath
from northbridge_stack.ports import LOOPBACK, accepts
from northbridge_stack.processes import Server

BROKER_MAIN: Final = "kafka.Kafka"
STORAGE_TOOL: Final = "kafka.tools.StorageTool"
CONSOLE_PRODUCER: Final = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER: Final = "org.apache.kafka.tools.consumer.ConsoleConsumer"
TOPIC_COMMAND: Final = "org.apache.kafka.tools.TopicCommand"
CONSUMER_GROUPS: Final = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
# Kafka's configuration shared with compose (deploy/kafka/ in the repository, which this
# package runs from): every node's settings, each cluster size's, and the logging.
CONFIG_DIR: Final = Path(__file__).resolve().parents[3] / "kafka"
SERVER_PROPERTIES: Final = CONFIG_DIR / "server.properties"
BROKER_LOG4J: Final = CONFIG_DIR / "log4j2.properties"
TOOLS_LOG4J: Final = CONFIG_DIR / "tools-log4j2.properties"
# How long one readiness probe may take: a metadata request on loopback answers in ms.
PROBE_TIMEOUT_S: Final = 5.0

# A fixed small heap: the machine has 2 cores and is shared with the services under test.
# The GC flags are the ones kafka-server-start.sh uses.
BROKER_JVM: Final = (
    "-Xms512m",
    "-Xmx512m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
# The heap kafka-run-class.sh gives the command-line tools.
TOOL_JVM: Final = ("-Xmx256m", "-Djava.awt.headless=true")


def nodes_properties(nodes: int) -> Path:
    """``deploy/kafka/nodes-<nodes>.properties``: a cluster size's replication settings."""
    return CONFIG_DIR / f"nodes-{nodes}.properties"


def cluster_sizes() -> list[int]:
    """The cluster sizes there is a ``nodes-<N>.properties`` for (KAFKA_NODES may be one)."""
    return sorted(int(path.stem.removeprefix("nodes-")) for path in CONFIG_DIR.glob("nodes-*"))


@functools.cache
def config_file(path: Path) -> str:
    """The text of one of ``deploy/kafka``'s properties files."""
    try:
        return path.read_text()
    except FileNotFoundError:
        if path.name.startswith("nodes-"):
            sizes = " or ".join(map(str, cluster_sizes()))
            raise StackError(f"KAFKA_NODES must be {sizes}: there is no {path}") from None
        raise StackError(
            f"cannot read {path}: northbridge_stack runs from the repository, beside deploy/kafka/"
        ) from None
    except OSError as error:
        raise StackError(f"cannot read {path} ({error.strerror})") from error


def shared_settings(nodes: int = 1) -> dict[str, str]:
    """What every node of a ``nodes``-node cluster is set to, whatever the mode, key by key."""
    files = (SERVER_PROPERTIES, nodes_properties(nodes))
    return {k: v for f in files for k, v in parse_properties(config_file(f), f.name).items()}


def replication_factor(nodes: int) -> int:
    """The replicas the pipeline's topics get in a ``nodes``-node cluster."""
    return int(shared_settings(nodes)["default.replication.factor"])


def parse_properties(text: str, name: str = "properties") -> dict[str, str]:
    """Java properties written as plain ``key=value`` lines; the last line of a key wins.

    ``#`` and ``!`` comments and blank lines are skipped, as ``java.util.Properties`` does. Line
    continuations, escapes and the ``:`` or blank separators are refused rather than read
    differently from Java: the shared file needs none of them.
    """
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip() or line.endswith("\\") or "\\" in key:
            raise StackError(f"{name}, line {number}: not a plain key=value line: {raw!r}")
        settings[key.strip()] = value.strip()
    return settings


# Several partitions spread keyed events while keeping one key's events in order: the pipeline
# topics get the broker's default count, one fact in the shared file.
DEFAULT_PARTITIONS: Final = int(shared_settings()["num.partitions"])


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL listener beside the plain one: TLS, and SCRAM-SHA-512 users."""

    port: int
    keystore: Path  # PEM: the private key, then the certificate chain
    users: dict[str, str]  # name: password, stored as SCRAM credentials at format time


@dataclass(frozen=True)
class Membership:
    """What a node of a cluster knows of it: its id, every voter, the cluster's id."""

    node_id: int
    voters: tuple[tuple[int, int], ...]  # (node id, controller port) of each node
    cluster_id: str


class KafkaBroker(Server):
    """One KRaft node on 127.0.0.1: config, data and (when a test starts it) log in ``home``."""

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int = 9093,
        *,
        sasl_ssl: SaslSsl | None = None,
        member: Membership | None = None,
    ) -> None:
        """Describe the node; nothing runs or is written until :meth:`start`.

        With ``sasl_ssl`` it also listens there; the plain port stays for the probes. A node
        of a :class:`KafkaCluster` is its ``member``; alone, it is node 1 and its only voter.
        """
        self.member = member or Membership(1, ((1, controller_port),), "")
        self.node_id = self.member.node_id
        name = "kafka" if self.node_id == 1 else f"kafka-{self.node_id}"
        super().__init__(name, home / "kafka.log")
        self.home = home
        self.port = port
        self.controller_port = controller_port
        self.sasl_ssl = sasl_ssl

    ready_what = "starting"
    start_timeout = 90.0

    @property
    def nodes(self) -> int:
        """How many nodes the cluster has (its settings: ``nodes-<N>.properties``)."""
        return len(self.member.voters)

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect: ``127.0.0.1:PORT``."""
        return f"{LOOPBACK}:{self.port}"

    def command(self) -> tuple[list[str], None]:
        """Write the config, format the storage once; the broker's java command."""
        self._write_config()
        self._format_storage()
        argv = [_java(), *BROKER_JVM, f"-Dlog4j2.configurationFile={BROKER_LOG4J}"]
        return [*argv, "-cp", kafka_classpath(), BROKER_MAIN, str(self._server_properties)], None

    def tool_argv(self, main_class: str, *args: str) -> list[str]:
        """The java command running one of Kafka's command-line tools from the same jars."""
        log4j = f"-Dlog4j2.configurationFile={TOOLS_LOG4J}"
        return [_java(), *TOOL_JVM, log4j, "-cp", kafka_classpath(), main_class, *args]

    def console_producer_argv(self, topic: str) -> list[str]:
        """``kafka-console-producer`` for ``topic``: one record per stdin line."""
        return self.tool_argv(
            CONSOLE_PRODUCER, "--bootstrap-server", self.bootstrap_servers, "--topic", topic
        )

    @property
    def _data_dir(self) -> Path:
        return self.home / "data"

    @property
    def _server_properties(self) -> Path:
        return self.home / "server.properties"

    def _write_config(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._server_properties.write_text(self.properties())

    def run_settings(self) -> dict[str, str]:
        """What this node and run add to the shared settings: its id, ports and data."""
        voters = ",".join(f"{node}@{LOOPBACK}:{port}" for node, port in self.member.voters)
        settings = {
            "node.id": str(self.node_id),
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": voters,
            "log.dirs": str(self._data_dir),
        }
        if (secure := self.sasl_ssl) is not None:
            settings["listeners"] += f",SASL_SSL://{LOOPBACK}:{secure.port}"
            settings["advertised.listeners"] += f",SASL_SSL://{LOOPBACK}:{secure.port}"
            settings["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
            scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            settings |= {
                "sasl.enabled.mechanisms": "SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
                "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
                "listener.name.sasl_ssl.ssl.keystore.location": str(secure.keystore),
            }
        return settings

    def properties(self) -> str:
        """server.properties: the shared files as they are, then this node's settings."""
        run = self.run_settings()
        files = (SERVER_PROPERTIES, nodes_properties(self.nodes))
        if clash := sorted(shared_settings(self.nodes).keys() & run.keys()):
            raise StackError(f"{' or '.join(map(str, files))} set what each node sets: {clash}")
        lines = [f"{key}={value}" for key, value in run.items()]
        shared = [f"# {path}\n{config_file(path)}" for path in files]
        return (
            "# Written by northbridge_stack.kafka on every start, from:\n"
            + "\n".join(shared)
            + "\n# This node's id, listeners, the controllers' addresses and its data folder.\n"
            + "\n".join(lines)
            + "\n"
        )

    def _format_storage(self) -> None:
        # Formatting is once per data dir: meta.properties is what StorageTool writes.
        if (self._data_dir / "meta.properties").exists():
            return
        config = str(self._server_properties)
        cluster_id = self.member.cluster_id or _cluster_id(uuid.uuid4())
        argv = self.tool_argv(
            STORAGE_TOOL, "format", "--ignore-formatted", "-t", cluster_id, "-c", config
        )
        for name, password in (self.sasl_ssl.users if self.sasl_ssl else {}).items():
            argv += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{done.stdout}{done.stderr}")

    def serving(self) -> bool:
        """The node answers metadata and lists itself: registered and unfenced, serving."""
        return accepts(self.port) and _lists_broker(self.bootstrap_servers, self.node_id)


class KafkaCluster:
    """Three (or any ``nodes-<N>.properties`` count of) KRaft nodes on 127.0.0.1.

    Node *i* lives in ``home/node-i``. The cluster's id follows from ``home``, so a node whose
    data is lost is formatted into the same cluster again, and two clusters never share one.
    """

    def __init__(self, home: Path, ports: Sequence[tuple[int, int]]) -> None:
        """Describe the nodes, one per ``(port, controller port)``; nothing runs yet."""
        config_file(nodes_properties(len(ports)))  # fails early on a size with no settings
        self.home = home
        voters = tuple((node, controller) for node, (_, controller) in enumerate(ports, start=1))
        cluster_id = _cluster_id(uuid.uuid5(uuid.NAMESPACE_URL, home.resolve().as_uri()))
        self.brokers = [
            KafkaBroker(
                home / f"node-{node}",
                port,
                controller,
                member=Membership(node, voters, cluster_id),
            )
            for node, (port, controller) in enumerate(ports, start=1)
        ]

    @property
    def bootstrap_servers(self) -> str:
        """Every node's address: a client starting while one is down still finds the others."""
        return ",".join(broker.bootstrap_servers for broker in self.brokers)

    @contextmanager
    def running(self) -> Iterator["KafkaCluster"]:
        """Start every node attached (together: none serves before a quorum of voters runs)."""
        try:
            for broker in self.brokers:
                broker.spawn()
            for broker in self.brokers:
                broker.wait_serving()
            yield self
        finally:
            # Together: a node stopping alone waits for a quorum that is stopping too.
            with ThreadPoolExecutor(len(self.brokers)) as pool:
                list(pool.map(lambda broker: broker.stop(), self.brokers))


def _lists_broker(bootstrap_servers: str, node_id: int) -> bool:
    async def ask() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
        try:
            await client.bootstrap()
            return client.cluster.broker_metadata(node_id) is not None
        finally:
            await client.close()

    try:
        return asyncio.run(asyncio.wait_for(ask(), PROBE_TIMEOUT_S))
    except (KafkaError, OSError, TimeoutError):
        return False


def _cluster_id(seed: uuid.UUID) -> str:
    """A cluster id written as ``StorageTool random-uuid`` writes one, without a JVM for it.

    Kafka's Uuid is 16 bytes in URL-safe base64 without padding, and it rejects ids starting
    with "-" because they read as command-line options: such a seed's bits are flipped.
    """
    cluster_id = base64.urlsafe_b64encode(seed.bytes).decode().rstrip("=")
    if cluster_id.startswith("-"):
        return _cluster_id(uuid.UUID(int=seed.int ^ (1 << 127)))
    return cluster_id


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("Kafka needs java (17+): apt-get install openjdk-17-jre-headless")
    return found
