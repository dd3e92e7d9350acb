"""The local stack's Kafka nodes: how many, on which ports, and remembered until `down`."""

from pathlib import Path

import pytest

from northbridge_stack.errors import StackError
from northbridge_stack.layout import StackLayout


def layout(home: Path, **environ: str) -> StackLayout:
    return StackLayout.from_env({"STACK_HOME": str(home), **environ})


def test_one_node_by_default(tmp_path: Path) -> None:
    (broker,) = layout(tmp_path).kafka_brokers()
    assert (broker.process.name, broker.port, broker.controller_port) == ("kafka", 9092, 9093)
    assert broker.home == tmp_path / "kafka"
    assert layout(tmp_path).kafka_bootstrap_servers == "127.0.0.1:9092"


def test_three_nodes_on_their_own_ports_and_data(tmp_path: Path) -> None:
    three = layout(tmp_path, KAFKA_NODES="3", STACK_KAFKA_3_PORT="19096")
    brokers = three.kafka_brokers()
    assert [(b.process.name, b.port, b.controller_port) for b in brokers] == [
        ("kafka", 9092, 9093),
        ("kafka-2", 9094, 9095),
        ("kafka-3", 19096, 9097),
    ]
    # Never the one-node stack's data: its topics have one replica.
    assert {b.home.parent for b in brokers} == {tmp_path / "kafka-3-nodes"}
    assert three.kafka_bootstrap_servers == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:19096"


@pytest.mark.parametrize("value", ["2", "three", "0"])
def test_a_size_without_settings_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(StackError, match=r"KAFKA_NODES must be 1 or 3"):
        layout(tmp_path, KAFKA_NODES=value)


def test_the_size_up_started_is_kept_until_down(tmp_path: Path) -> None:
    layout(tmp_path, KAFKA_NODES="3").remember_kafka_nodes()
    assert layout(tmp_path).kafka_nodes == 3  # ps, produce, a second up: the same nodes
    assert layout(tmp_path, KAFKA_NODES="1").kafka_nodes == 1  # asked for: that size
    layout(tmp_path).forget_kafka_nodes()
    assert layout(tmp_path).kafka_nodes == 1
