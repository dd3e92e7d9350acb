"""One set of Kafka facts for every mode.

Every node's broker settings live in deploy/kafka/server.properties, and each cluster size's
replication in nodes-<N>.properties. The local stack (northbridge_stack.kafka) and compose
(compose.yaml's kafka service, and compose.kafka-3.yaml's copies of it) must each start from
those files and add only what differs per node and run; the partition count and the topic
names must agree wherever they are written down.
"""

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from northbridge_shared.contracts import NORTH_TOPIC
from northbridge_stack import kafka
from northbridge_stack.kafka import (
    DEFAULT_PARTITIONS,
    KafkaBroker,
    KafkaCluster,
    parse_properties,
    shared_settings,
)
from tests.compose_files import load

ROOT = Path(__file__).resolve().parents[2]
KAFKA_DIR = ROOT / "deploy" / "kafka"
SHARED_FILE = KAFKA_DIR / "server.properties"
SIZES = (1, 3)
COMPOSE_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
# The keys a node may set, because they name its own id, ports, addresses and folders.
PER_RUN = {
    "node.id",
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "controller.quorum.voters",
    "log.dirs",
}


def compose_file(name: str) -> dict[str, Any]:
    return load(ROOT / name)


def compose_service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = compose_file("compose.yaml")["services"][name]
    return service


def node_services(nodes: int) -> dict[str, dict[str, Any]]:
    """The Kafka node services of a ``nodes``-node compose, as merged for each node.

    One node: compose.yaml's kafka. Three: compose.kafka-3.yaml on top, whose kafka-2 and
    kafka-3 extend compose.yaml's kafka (environment merged key by key, the rest replaced).
    """
    base = compose_service("kafka")
    if nodes == 1:
        return {"kafka": base}
    merged = {}
    for name, override in compose_file("compose.kafka-3.yaml")["services"].items():
        if name != "kafka" and override.get("extends", {}).get("service") != "kafka":
            continue
        assert name == "kafka" or override["extends"] == {
            "file": "compose.yaml",
            "service": "kafka",
        }
        environment = {**base["environment"], **override.get("environment", {})}
        merged[name] = {**base, **override, "environment": environment}
    return merged


def with_compose_defaults(value: str) -> str:
    """A compose value as it is with no variable set: ``${NAME:-default}`` becomes ``default``."""
    return COMPOSE_DEFAULT.sub(lambda match: match.group(2), value)


def kafka_script() -> str:
    """The kafka service's start script, with compose's ``$$`` escapes undone."""
    service = compose_service("kafka")
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    script: str = service["command"][0]
    return script.replace("$$", "$")


def host_path(service: dict[str, Any], container_path: str) -> Path:
    """Where a file the container reads comes from on the host, through its read-only mounts."""
    path = PurePosixPath(container_path)
    volumes: list[str] = service["volumes"]
    for volume in volumes:
        source, target, *options = volume.split(":")
        if source.startswith(".") and options == ["ro"] and path.is_relative_to(target):
            return (ROOT / source).resolve() / path.relative_to(target)
    raise AssertionError(f"{container_path} is not in a read-only mount of the kafka service")


def compose_config(service: dict[str, Any]) -> tuple[str, list[str], dict[str, str]]:
    """How a node's container writes server.properties: the files it copies, the lines it adds.

    The script's ``cat FILE... - >"$config" <<EOF ... EOF``: the files (container paths) and
    the heredoc's settings, with the container's variables at their compose defaults.
    """
    script = kafka_script()
    found = re.search(r'^cat (.+?) - >"\$config" <<EOF\n(.*?)^EOF$', script, re.M | re.S)
    assert found, f"the kafka script writes no server.properties from files:\n{script}"
    environment = {
        name: with_compose_defaults(str(value)) for name, value in service["environment"].items()
    }

    def resolved(text: str) -> str:
        return re.sub(r"\$(\w+)", lambda match: environment[match.group(1)], text)

    copied = [resolved(name.strip('"')) for name in found.group(1).replace("\\\n", " ").split()]
    added = parse_properties(found.group(2), "compose.yaml")
    config = re.search(r"^config=(\S+)$", script, re.M)
    assert config, "the kafka script names no config file"
    return config.group(1), copied, {key: resolved(value) for key, value in added.items()}


def compose_nodes() -> list[tuple[int, str, dict[str, Any]]]:
    """(cluster size, service name, merged service) of every Kafka node compose can run."""
    return [(size, name, svc) for size in SIZES for name, svc in node_services(size).items()]


def test_local_mode_reads_the_shared_files() -> None:
    assert kafka.SERVER_PROPERTIES == SHARED_FILE
    assert kafka.cluster_sizes() == list(SIZES)
    for size in SIZES:
        files = [SHARED_FILE, KAFKA_DIR / f"nodes-{size}.properties"]
        expected = {k: v for f in files for k, v in parse_properties(f.read_text()).items()}
        assert shared_settings(size) == expected


def test_each_size_sets_the_same_keys_and_none_of_every_nodes() -> None:
    """A size file only adds (never silently overrides server.properties), and both agree."""
    shared = parse_properties(SHARED_FILE.read_text())
    keys = [set(parse_properties(kafka.nodes_properties(n).read_text())) for n in SIZES]
    assert all(k == keys[0] for k in keys), keys
    assert not keys[0] & set(shared)


def test_three_nodes_keep_every_write_on_two_of_three() -> None:
    """The issue's contract: 3 replicas, and an acks=all write needs 2 of them."""
    settings = shared_settings(3)
    assert settings["default.replication.factor"] == settings["offsets.topic.replication.factor"]
    assert (int(settings["default.replication.factor"]), int(settings["min.insync.replicas"])) == (
        3,
        2,
    )
    assert kafka.replication_factor(3) == 3


@pytest.mark.parametrize("size", SIZES)
def test_local_mode_keeps_every_shared_setting(tmp_path: Path, size: int) -> None:
    """Each node's server.properties has the shared keys with their values, plus its own."""
    brokers = (
        [KafkaBroker(tmp_path, port=19092, controller_port=19093)]
        if size == 1
        else KafkaCluster(tmp_path, [(19092 + 2 * n, 19093 + 2 * n) for n in range(size)]).brokers
    )
    shared = shared_settings(size)
    voters = {parse_properties(b.properties())["controller.quorum.voters"] for b in brokers}
    assert len(voters) == 1, "the nodes disagree on who votes"
    (quorum,) = voters
    for number, broker in enumerate(brokers, start=1):
        written = parse_properties(broker.properties())
        assert {key: written.get(key) for key in shared} == shared
        assert set(written) - set(shared) == PER_RUN
        assert written["node.id"] == str(number)
        assert f"{number}@127.0.0.1:{broker.controller_port}" in quorum.split(",")
    assert len({b.member.cluster_id for b in brokers}) == 1


@pytest.mark.parametrize(("size", "name", "service"), compose_nodes())
def test_compose_mounts_the_shared_files(size: int, name: str, service: dict[str, Any]) -> None:
    _, copied, _ = compose_config(service)
    assert [host_path(service, path) for path in copied] == [
        SHARED_FILE,
        kafka.nodes_properties(size),
    ], name


@pytest.mark.parametrize(("size", "name", "service"), compose_nodes())
def test_compose_keeps_every_shared_setting(size: int, name: str, service: dict[str, Any]) -> None:
    """The lines compose adds set per-node keys, and num.partitions at its default only."""
    _, _, added = compose_config(service)
    shared = shared_settings(size)
    effective = shared | added
    assert {key: effective[key] for key in shared} == shared, name
    assert set(added) - set(shared) == PER_RUN, name


@pytest.mark.parametrize("size", SIZES)
def test_compose_nodes_are_their_own_voters(size: int) -> None:
    """Every node has its own id and address, and all name the same voters: each of them."""
    nodes = {name: compose_config(service)[2] for name, service in node_services(size).items()}
    voters = {added["controller.quorum.voters"] for added in nodes.values()}
    assert len(voters) == 1, voters
    expected = {f"{added['node.id']}@{name}:9093" for name, added in nodes.items()}
    assert set(voters.pop().split(",")) == expected
    assert all(f"INTERNAL://{name}:9092" in a["advertised.listeners"] for name, a in nodes.items())


def test_compose_formats_and_starts_with_that_config() -> None:
    config, _, _ = compose_config(compose_service("kafka"))
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
    assert host_path(compose_service("kafka"), found.group(1)) == kafka.BROKER_LOG4J
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
