"""The pipeline's Kafka topics, created on purpose with several partitions."""

import asyncio
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from northbridge_shared.contracts import NORTH_TOPIC, SOUTH_TOPIC, dead_letter_topic
from northbridge_stack.errors import StackError
from northbridge_stack.kafka import DEFAULT_PARTITIONS, replication_factor

# Dead letters are rare and read by people, in order: one partition is enough.
DEAD_LETTER_PARTITIONS: Final = 1
TOPIC_ALREADY_EXISTS: Final = 36  # Kafka protocol error code
POLL_S: Final = 0.1


def pipeline_topics(partitions: int = DEFAULT_PARTITIONS) -> dict[str, int]:
    """Every topic the pipeline uses, with its partition count."""
    topics = {NORTH_TOPIC: partitions, SOUTH_TOPIC: partitions}
    dead_letters = {dead_letter_topic(name): DEAD_LETTER_PARTITIONS for name in topics}
    return topics | dead_letters


def create_topics(
    bootstrap_servers: str,
    partitions: int = DEFAULT_PARTITIONS,
    timeout: float = 30.0,
    *,
    nodes: int = 1,
) -> None:
    """Create the pipeline's topics that are missing and wait until each has a leader.

    Each gets the replicas of a ``nodes``-node cluster (its ``default.replication.factor``).
    Existing topics are left as they are (their partition count included), so this is safe
    to run on every start.
    """
    wanted = pipeline_topics(partitions)
    replicas = replication_factor(nodes)
    try:
        asyncio.run(asyncio.wait_for(_create(bootstrap_servers, wanted, replicas), timeout))
    except TimeoutError:
        raise StackError(
            f"Kafka at {bootstrap_servers} made no topics in {timeout:.0f} s"
        ) from None


def list_topics(bootstrap_servers: str, timeout: float = 10.0) -> list[str]:
    """The names of the topics that exist."""
    try:
        return asyncio.run(asyncio.wait_for(_list(bootstrap_servers), timeout))
    except TimeoutError:
        raise StackError(
            f"Kafka at {bootstrap_servers} gave no answer in {timeout:.0f} s"
        ) from None


async def _list(bootstrap_servers: str) -> list[str]:
    admin = await _admin(bootstrap_servers)
    try:
        return sorted(await admin.list_topics())
    finally:
        await admin.close()


async def _create(bootstrap_servers: str, wanted: dict[str, int], replicas: int) -> None:
    admin = await _admin(bootstrap_servers)
    try:
        missing = sorted(set(wanted) - set(await admin.list_topics()))
        if missing:
            new = [NewTopic(name, wanted[name], replicas) for name in missing]
            _raise_errors(await admin.create_topics(new))
        # Polls the broker's metadata: there is no local event to wait on.
        while not _all_led(await admin.describe_topics(list(wanted))):  # noqa: ASYNC110
            await asyncio.sleep(POLL_S)
    finally:
        await admin.close()


async def _admin(bootstrap_servers: str) -> Any:  # aiokafka is untyped
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    return admin


def _raise_errors(response: Any) -> None:
    # Another starter may create the same topic between our list and create: that is fine.
    failed = [
        f"{topic}: error {code} {message or ''}".strip()
        for topic, code, message in response.topic_errors
        if code not in (0, TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise StackError("Kafka refused to create topics: " + "; ".join(failed))


def _all_led(described: list[dict[str, Any]]) -> bool:
    """Whether every topic exists and each partition has a leader (producers can write)."""
    return all(
        topic["error_code"] == 0
        and topic["partitions"]
        and all(partition["leader"] >= 0 for partition in topic["partitions"])
        for topic in described
    )
