"""A bridge left without partitions says so once, and says again when it gets some."""

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.structs import TopicPartition
from structlog.testing import capture_logs

from northbridge_bridge.standby import HINT, Standby

TOPICS = {"north-updates": {0, 1}, "south-updates": {0}}


def standby() -> Standby:
    return Standby("bridge", TOPICS, TOPICS.get)


def events(logs: Sequence[Mapping[str, Any]]) -> list[str]:
    return [line["event"] for line in logs]


def test_an_empty_assignment_logs_idle_with_the_group_topics_and_partitions() -> None:
    """The idle line names what an operator needs: group, topics, partitions, the cause."""
    with capture_logs() as logs:
        standby().assigned(set())
    assert logs == [
        {
            "event": "bridge_idle",
            "log_level": "info",
            "group": "bridge",
            "topics": ["north-updates", "south-updates"],
            "partitions": 3,
            "hint": HINT,
        }
    ]


def test_idle_is_said_once_and_active_once_partitions_come() -> None:
    """Rebalances that keep it idle add no line; the first assignment with partitions does."""
    watcher = standby()
    with capture_logs() as logs:
        watcher.assigned(set())
        watcher.assigned(set())
        watcher.assigned({TopicPartition("north-updates", 1)})
        watcher.assigned({TopicPartition("north-updates", 0)})
    assert events(logs) == ["bridge_idle", "bridge_active"]
    assert logs[1]["partitions"] == 1


def test_a_bridge_with_partitions_from_the_start_logs_nothing() -> None:
    with capture_logs() as logs:
        standby().assigned({TopicPartition("south-updates", 0)})
    assert logs == []
