"""One set of Kafka facts for every mode.

The single-node broker settings live in deploy/kafka/single-node.properties. The local stack
(northbridge_stack.kafka) and compose (compose.yaml's kafka service) must each start from that
file and add only what differs per run; the partition count and the topic names must agree
wherever they are written down.
"""

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from northbridge_shared.contracts import NORTH_TOPIC
from northbridge_stack import kafka
from northbridge_stack.kafka import DEFAULT_PARTITIONS, KafkaBroker, parse_properties
from northbridge_stack.kafka import single_node_settings as shared_settings

ROOT = Path(__file__).resolve().parents[2]
SHARED_FILE = ROOT / "deploy" / "kafka" / "single-node.properties"
COMPOSE_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
# The keys a run may set, because they name its own ports, addresses and folders.
PER_RUN = {
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "controller.quorum.voters",
    "log.dirs",
}


def compose_service(name: str) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    service: dict[str, Any] = services[name]
    return service


def with_compose_defaults(value: str) -> str:
    """A compose value as it is with no variable set: ``${NAME:-default}`` becomes ``default``."""
    return COMPOSE_DEFAULT.sub(lambda match: match.group(2), value)


def kafka_script() -> str:
    """The kafka service's start script, with compose's ``$$`` escapes undone."""
    service = compose_service("kafka")
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    script: str = service["command"][0]
    return script.replace("$$", "$")


def compose_mounts() -> dict[str, Path]:
    """The kafka container's bind mounts: container path -> host path (read-only ones only)."""
    mounts = {}
    for volume in compose_service("kafka")["volumes"]:
        source, target, *options = volume.split(":")
        if source.startswith(".") and options == ["ro"]:
            mounts[target] = (ROOT / source).resolve()
    return mounts


def host_path(container_path: str) -> Path:
    """Where a file the kafka container reads comes from on the host, through its mounts."""
    path = PurePosixPath(container_path)
    for target, source in compose_mounts().items():
        if path.is_relative_to(target):
            return source / path.relative_to(target)
    raise AssertionError(f"{container_path} is not in a read-only mount of the kafka service")


def compose_config() -> tuple[str, str, dict[str, str]]:
    """How compose writes server.properties: the file it copies, and the lines it adds.

    The script's ``cat FILE - >"$config" <<EOF ... EOF``: FILE (a container path) and the
    heredoc's settings, with the container's variables at their compose defaults.
    """
    script = kafka_script()
    found = re.search(r'^cat (\S+) - >"\$config" <<EOF\n(.*?)^EOF$', script, re.M | re.S)
    assert found, f"the kafka script writes no server.properties from a file:\n{script}"
    environment = {
        name: with_compose_defaults(str(value))
        for name, value in compose_service("kafka")["environment"].items()
    }
    added = parse_properties(found.group(2), "compose.yaml")
    resolved = {
        key: re.sub(r"\$(\w+)", lambda match: environment[match.group(1)], value)
        for key, value in added.items()
    }
    config = re.search(r"^config=(\S+)$", script, re.M)
    assert config, "the kafka script names no config file"
    return config.group(1), found.group(1), resolved


def test_local_mode_reads_the_shared_file() -> None:
    assert kafka.SINGLE_NODE_PROPERTIES == SHARED_FILE
    assert shared_settings() == parse_properties(SHARED_FILE.read_text())


def test_local_mode_keeps_every_shared_setting(tmp_path: Path) -> None:
    """server.properties has each shared key with the file's value, plus the per-run keys."""
    broker = KafkaBroker(tmp_path, port=19092, controller_port=19093)
    written = parse_properties(broker.properties())
    shared = shared_settings()
    assert {key: written.get(key) for key in shared} == shared
    assert set(written) - set(shared) == PER_RUN


def test_compose_mounts_the_shared_file() -> None:
    _, copied, _ = compose_config()
    assert host_path(copied) == SHARED_FILE


def test_compose_keeps_every_shared_setting() -> None:
    """The lines compose adds set per-run keys, and num.partitions at its default only."""
    _, _, added = compose_config()
    effective = shared_settings() | added
    assert {key: effective[key] for key in shared_settings()} == shared_settings()
    assert set(added) - set(shared_settings()) == PER_RUN


def test_compose_formats_and_starts_with_that_config() -> None:
    config, _, _ = compose_config()
    script = kafka_script()
    assert re.search(
        r"/opt/kafka/bin/kafka-storage\.sh format --ignore-formatted \\\n.*--config \"\$config\"$",
        script,
        re.M,
    ), script
    assert re.search(r'^exec /opt/kafka/bin/kafka-server-start\.sh "\$config"$', script, re.M)
    assert config.startswith("/opt/kafka/config/"), "the image lets appuser write only there"


def test_both_modes_log_the_broker_alike() -> None:
    found = re.search(
        r"^export KAFKA_LOG4J_OPTS=-Dlog4j2\.configurationFile=(\S+)$", kafka_script(), re.M
    )
    assert found, "compose's broker would log with the image's own configuration"
    assert host_path(found.group(1)) == kafka.BROKER_LOG4J
    assert kafka.BROKER_LOG4J.is_file()
    assert kafka.TOOLS_LOG4J.is_file()


@pytest.mark.parametrize("service", ["kafka", "kafka-init"])
def test_compose_topic_partitions_default_is_the_local_default(service: str) -> None:
    value = str(compose_service(service)["environment"]["TOPIC_PARTITIONS"])
    assert COMPOSE_DEFAULT.fullmatch(value), f"{service}: TOPIC_PARTITIONS is {value!r}"
    assert int(with_compose_defaults(value)) == DEFAULT_PARTITIONS
    assert int(shared_settings()["num.partitions"]) == DEFAULT_PARTITIONS


def test_make_produces_to_the_north_topic_by_default() -> None:
    found = re.search(r"^TOPIC \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert found, "the Makefile sets no TOPIC default"
    assert found.group(1) == NORTH_TOPIC
