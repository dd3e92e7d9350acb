"""A single-node Apache Kafka in KRaft mode (broker and controller in one JVM) from Maven jars."""

import asyncio
import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Final

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

from northbridge_stack.errors import StackError
from northbridge_stack.jars import kafka_classpath
from northbridge_stack.ports import LOOPBACK, accepts
from northbridge_stack.processes import ManagedProcess
from northbridge_stack.server import Server

BROKER_MAIN: Final = "kafka.Kafka"
STORAGE_TOOL: Final = "kafka.tools.StorageTool"
CONSOLE_PRODUCER: Final = "org.apache.kafka.tools.ConsoleProducer"
CONSOLE_CONSUMER: Final = "org.apache.kafka.tools.consumer.ConsoleConsumer"
TOPIC_COMMAND: Final = "org.apache.kafka.tools.TopicCommand"
CONSUMER_GROUPS: Final = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
# Several partitions spread keyed events while keeping one key's events in order.
DEFAULT_PARTITIONS: Final = 6
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

_LOG4J_BROKER = """\
# Written by northbridge_stack.kafka: INFO to stdout, which the starter appends to the log file.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
# Per-request logging is noise at INFO, as in Kafka's own log4j2.yaml.
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""

_LOG4J_TOOLS = """\
# Written by northbridge_stack.kafka: the tools print data on stdout, so logs go to stderr.
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = STDERR
"""


class KafkaBroker(Server):
    """One KRaft node on 127.0.0.1: config, data and (by default) log and pid file in ``home``."""

    def __init__(
        self,
        home: Path,
        port: int = 9092,
        controller_port: int = 9093,
        *,
        log_file: Path | None = None,
        pid_file: Path | None = None,
    ) -> None:
        """Describe the broker; nothing runs or is written until :meth:`start`."""
        super().__init__(
            ManagedProcess(
                "kafka",
                log_file=log_file or home / "kafka.log",
                pid_file=pid_file or home / "kafka.pid",
            )
        )
        self.home = home
        self.port = port
        self.controller_port = controller_port

    ready_what = "starting"
    start_timeout = 90.0

    @property
    def bootstrap_servers(self) -> str:
        """Where clients connect: ``127.0.0.1:PORT``."""
        return f"{LOOPBACK}:{self.port}"

    def command(self) -> tuple[list[str], None]:
        """Write the config, format the storage once; the broker's java command."""
        classpath = kafka_classpath()
        self._write_config()
        self._format_storage(classpath)
        argv = [_java(), *BROKER_JVM, f"-Dlog4j2.configurationFile={self._log4j_broker}"]
        return [*argv, "-cp", classpath, BROKER_MAIN, str(self._server_properties)], None

    def tool_argv(self, main_class: str, *args: str) -> list[str]:
        """The java command running one of Kafka's command-line tools from the same jars."""
        self.home.mkdir(parents=True, exist_ok=True)
        self._log4j_tools.write_text(_LOG4J_TOOLS)
        log4j = f"-Dlog4j2.configurationFile={self._log4j_tools}"
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

    @property
    def _log4j_broker(self) -> Path:
        return self.home / "log4j2.properties"

    @property
    def _log4j_tools(self) -> Path:
        return self.home / "log4j2-tools.properties"

    def _write_config(self) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        self._server_properties.write_text(self._properties())
        self._log4j_broker.write_text(_LOG4J_BROKER)

    def _properties(self) -> str:
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOOPBACK}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOOPBACK}:{self.port},CONTROLLER://{LOOPBACK}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._data_dir),
            # One node: every internal topic has one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Consumer groups form at once instead of after 3 s (tests join and leave a lot).
            "group.initial.rebalance.delay.ms": "0",
            # Small machine: fewer threads and internal partitions than a production broker.
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.num.partitions": "1",
            "num.network.threads": "1",
            "num.io.threads": "2",
            "background.threads": "2",
            # Topics are created on purpose (topics.create_topics) with several partitions; a
            # typo in a topic name must fail, not silently create a one-partition topic.
            "auto.create.topics.enable": "false",
            "num.partitions": str(DEFAULT_PARTITIONS),
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        return "# Written by northbridge_stack.kafka on every start.\n" + "\n".join(lines) + "\n"

    def _format_storage(self, classpath: str) -> None:
        # Formatting is once per data dir: meta.properties is what StorageTool writes.
        if (self._data_dir / "meta.properties").exists():
            return
        argv = [_java(), *TOOL_JVM, f"-Dlog4j2.configurationFile={self._log4j_tools}"]
        argv += ["-cp", classpath, STORAGE_TOOL, "format", "--ignore-formatted"]
        argv += ["-t", _cluster_id(), "-c", str(self._server_properties)]
        self._log4j_tools.write_text(_LOG4J_TOOLS)
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
