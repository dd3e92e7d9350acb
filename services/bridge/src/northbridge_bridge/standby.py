"""A bridge the group gave no partition: it idles as a standby, and says so once.

Kafka gives each partition of the group's topics to one member, so a group with more
bridges than partitions leaves some with an empty assignment. Such a bridge is healthy (its
loop polls and beats its heartbeat as usual) and takes partitions over when a rebalance
hands it some, e.g. when another bridge stops. Without a line in its log it would look like
a bridge that reads nothing for no reason; with one, the reason and the cure are named.
"""

from collections.abc import Callable, Iterable

import structlog
from aiokafka.structs import TopicPartition

log = structlog.get_logger(__name__)

HINT = "more bridges than partitions; this one waits for a rebalance"


class Standby:
    """Logs ``bridge_idle`` when an assignment comes back empty, ``bridge_active`` after it."""

    def __init__(
        self,
        group: str,
        topics: Iterable[str],
        partitions_of: Callable[[str], set[int] | None],
    ) -> None:
        self._group = group
        self._topics = sorted(topics)
        # The consumer's metadata (partitions_for_topic): current when a rebalance completes.
        self._partitions_of = partitions_of
        self._idle = False

    def assigned(self, partitions: set[TopicPartition]) -> None:
        """Note the whole new assignment (aiokafka's rebalances are eager: never a delta)."""
        if not partitions and not self._idle:
            log.info(
                "bridge_idle",
                group=self._group,
                topics=self._topics,
                partitions=self._partitions(),
                hint=HINT,
            )
        elif partitions and self._idle:
            log.info("bridge_active", group=self._group, partitions=len(partitions))
        self._idle = not partitions

    def _partitions(self) -> int:
        """How many partitions the group's topics have in all: the most bridges that work."""
        return sum(len(self._partitions_of(topic) or ()) for topic in self._topics)
