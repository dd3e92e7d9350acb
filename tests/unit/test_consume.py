"""The bridge commits only partitions it still owns, and never an empty commit."""

import asyncio
from typing import Any

from aiokafka.structs import TopicPartition

from northbridge_bridge.consume import Bridge
from northbridge_bridge.settings import BridgeSettings

OWNED = TopicPartition("north-updates", 0)
HANDED_OVER = TopicPartition("north-updates", 1)


class FakeConsumer:
    """Records commits; owns only OWNED."""

    def __init__(self) -> None:
        self.commits: list[dict[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {OWNED}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


def commit(offsets: dict[TopicPartition, int]) -> list[dict[TopicPartition, int]]:
    consumer = FakeConsumer()
    unused: Any = None
    bridge = Bridge(consumer, unused, unused, BridgeSettings())
    asyncio.run(bridge._commit(offsets))
    return consumer.commits


def test_handed_over_partitions_are_left_out() -> None:
    """One revoked partition must not fail the commit of the others."""
    assert commit({OWNED: 5, HANDED_OVER: 9}) == [{OWNED: 5}]


def test_nothing_owned_means_no_commit() -> None:
    """Aiokafka refuses an empty commit, so none is attempted."""
    assert commit({HANDED_OVER: 9}) == []
