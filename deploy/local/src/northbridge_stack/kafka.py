"""A single-node Apache Kafka in KRaft mode (broker and controller in one JVM) from Maven jars."""

import asyncio
import base64
import functools
import os
import shutil
import subprocess
import uuid
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
# package runs from): the single-node settings, and the broker's and the tools' logging.
CONFIG_DIR: Final = Path(__file__).resolve().parents[3] / "kafka"
SINGLE_NODE_PROPERTIES: Final = CONFIG_DIR / "single-node.properties"
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


@functools.cache
def single_node_file() -> str:
    """The text of ``deploy/kafka/single-node.properties``: the settings every mode shares."""
    try:
        return SINGLE_NODE_PROPERTIES.read_text()
    except OSError as error:
        raise StackError(
            f"cannot read {SINGLE_NODE_PROPERTIES} ({error.strerror}): "
            "northbridge_stack runs from the repository, beside deploy/kafka/"
        ) from error


def single_node_settings() -> dict[str, str]:
    """The shared single-node settings, key by key."""
    return parse_properties(single_node_file(), SINGLE_NODE_PROPERTIES.name)


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
DEFAULT_PARTITIONS: Final = int(single_node_settings()["num.partitions"])


@dataclass(frozen=True)
class SaslSsl:
    """A SASL_SSL listener beside the plain one: TLS, and SCRAM-SHA-512 users."""

    port: int
    keystore: Path  # PEM: the private key, then the certificate chain
    users: dict[str, str]  # name: password, stored as SCRAM credentials at format time


class KafkaBroker(Server):
    """One KRaft node on 127.0.0.1: config, data and (when a test starts it) log in ``home``."""

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int = 9093,
        *,
        sasl_ssl: SaslSsl | None = None,
    ) -> None:
        """Describe the broker; nothing runs or is written until :meth:`start`.

        With ``sasl_ssl`` it also listens there; the plain port stays for the probes.
        """
        super().__init__("kafka", home / "kafka.log")
        self.home = home
        self.port = port
        self.controller_port = controller_port
        self.sasl_ssl = sasl_ssl

    ready_what = "starting"
    start_timeout = 90.0

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
        """What this run adds to the shared settings: where it listens and keeps its data."""
        settings = {
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
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
        """server.properties: the shared single-node file as it is, then this run's settings."""
        run = self.run_settings()
        if clash := sorted(single_node_settings().keys() & run.keys()):
            raise StackError(f"{SINGLE_NODE_PROPERTIES} sets what each run sets: {clash}")
        lines = [f"{key}={value}" for key, value in run.items()]
        return (
            f"# Written by northbridge_stack.kafka on every start: {SINGLE_NODE_PROPERTIES}\n"
            f"{single_node_file()}\n"
            "# This run's listeners, controller address and data folder.\n"
            + "\n".join(lines)
            + "\n"
        )

    def _format_storage(self) -> None:
        # Formatting is once per data dir: meta.properties is what StorageTool writes.
        if (self._data_dir / "meta.properties").exists():
            return
        config = str(self._server_properties)
        argv = self.tool_argv(
            STORAGE_TOOL, "format", "--ignore-formatted", "-t", _cluster_id(), "-c", config
        )
        for name, password in (self.sasl_ssl.users if self.sasl_ssl else {}).items():
            argv += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{done.stdout}{done.stderr}")

    def serving(self) -> bool:
        """The broker answers metadata and lists itself: registered and unfenced, serving."""
        return accepts(self.port) and _lists_a_broker(self.bootstrap_servers)


def _lists_a_broker(bootstrap_servers: str) -> bool:
    async def ask() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
        try:
            await client.bootstrap()
            return bool(client.cluster.brokers())
        finally:
            await client.close()

    try:
        return asyncio.run(asyncio.wait_for(ask(), PROBE_TIMEOUT_S))
    except (KafkaError, OSError, TimeoutError):
        return False


def _cluster_id() -> str:
    """A cluster id as ``StorageTool random-uuid`` makes it, without starting a JVM for it.

    Kafka's Uuid.randomUuid is 16 random bytes in URL-safe base64 without padding, and it
    rejects ids starting with "-" because they read as command-line options.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise StackError("Kafka needs java (17+): apt-get install openjdk-17-jre-headless")
    return found
