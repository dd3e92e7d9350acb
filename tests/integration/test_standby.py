"""A bridge beyond the partition count idles as a healthy standby, says so, and takes over.

Three bridges of a group of their own read two topics of one partition each, so one of them
is left without a partition. Real Kafka decides which: the test finds it by its log.
"""

import asyncio
import json
import os
import time
import uuid
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from northbridge_shared.contracts import EMAIL_QUEUE, NOTIFICATION_QUEUE
from northbridge_stack import services
from northbridge_stack.kafka import KafkaBroker
from northbridge_stack.processes import ManagedProcess
from northbridge_stack.supervisor import OUR_PREFIXES

from .conftest import PRIVATE_DB, spawn
from .support import group_members, wait_for

HEARTBEAT_MAX_AGE_S = 2.0  # small, so that "keeps passing" is seen within seconds
REBALANCE_S = 60.0


def create_topics(bootstrap: str, names: list[str]) -> None:
    """``names`` with one partition each."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, 1, replication_factor=1) for name in names])
        finally:
            await admin.close()

    asyncio.run(create())


def start(home: Path, name: str, env: dict[str, str]) -> ManagedProcess:
    """A bridge called ``name``, once its health check passes."""
    bridge = spawn(services.bridge(), home, env, name)
    bridge.wait_until(
        lambda: services.ready(services.bridge(), env), timeout=REBALANCE_S, what="healthy"
    )
    return bridge


def assignment_lines(bridge: ManagedProcess) -> list[str]:
    """The bridge's standby lines, oldest first: ``bridge_idle`` and ``bridge_active``."""
    found = []
    for line in bridge.log_since_spawn().splitlines():
        try:
            event = json.loads(line).get("event")
        except ValueError:
            continue  # not one of structlog's lines
        if event in ("bridge_idle", "bridge_active"):
            found.append(line)
    return found


def is_idle(bridge: ManagedProcess) -> bool:
    lines = assignment_lines(bridge)
    return bool(lines) and json.loads(lines[-1])["event"] == "bridge_idle"


def test_a_bridge_beyond_the_partitions_idles_healthy_and_takes_over(
    kafka: KafkaBroker, redis_url: str, tmp_path: Path
) -> None:
    """Of three bridges on two partitions one logs bridge_idle, stays healthy, then works."""
    bootstrap = kafka.bootstrap_servers
    run = uuid.uuid4().hex[:8]
    north, south, group = f"standby-north-{run}", f"standby-south-{run}", f"standby-{run}"
    create_topics(bootstrap, [north, south])
    routes = {
        north: {"queue": NOTIFICATION_QUEUE, "mail": "notification"},
        south: {"queue": EMAIL_QUEUE, "mail": "direct"},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES)}
    env |= {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "REDIS_URL": f"{redis_url.rpartition('/')[0]}/{PRIVATE_DB}",  # no job is written
        "BRIDGE_GROUP_ID": group,
        "BRIDGE_ROUTES": json.dumps(routes),
        "BRIDGE_POLL_TIMEOUT_MS": "200",
        "BRIDGE_HEARTBEAT_MAX_AGE_S": str(HEARTBEAT_MAX_AGE_S),
        "BRIDGE_METRICS_PORT": "0",
    }
    bridges: dict[str, ManagedProcess] = {}
    envs: dict[str, dict[str, str]] = {}
    try:
        for number in (1, 2, 3):  # one at a time: each join is one rebalance, then stable
            name = f"standby-bridge-{number}"
            envs[name] = env | {"BRIDGE_HEARTBEAT_FILE": str(tmp_path / f"{name}.alive")}
            bridges[name] = start(tmp_path, name, envs[name])
            members = ("Stable", number)
            wait_for(
                lambda: group_members(bootstrap, group) == members,  # noqa: B023 - used at once
                timeout=REBALANCE_S,
                what=f"a stable group of {number} bridges",
            )

        idle = wait_for(
            lambda: [name for name, bridge in bridges.items() if is_idle(bridge)],
            timeout=REBALANCE_S,
            what="a bridge to log bridge_idle",
        )
        assert len(idle) == 1, f"two partitions, three bridges: one idle, not {idle}"
        standby = bridges[idle[0]]
        said = json.loads(assignment_lines(standby)[-1])
        assert (said["group"], said["topics"], said["partitions"]) == (group, [north, south], 2)
        assert "more bridges than partitions" in said["hint"]

        # Idle is alive: its heartbeat is renewed past the max age, and its check passes.
        idle_since = time.time()
        heartbeat = Path(envs[idle[0]]["BRIDGE_HEARTBEAT_FILE"])
        wait_for(
            lambda: heartbeat.stat().st_mtime > idle_since + HEARTBEAT_MAX_AGE_S,
            timeout=REBALANCE_S,
            what="the idle bridge's heartbeat to be renewed past its max age",
        )
        assert services.ready(services.bridge(), envs[idle[0]])

        working = next(name for name in bridges if name != idle[0])
        bridges.pop(working).stop()  # SIGTERM: it leaves the group, its partition moves
        wait_for(
            lambda: not is_idle(standby) and len(assignment_lines(standby)) == 2,
            timeout=REBALANCE_S,
            what="the standby to log bridge_active",
        )
        assert json.loads(assignment_lines(standby)[-1])["partitions"] == 1
    finally:
        for bridge in bridges.values():
            bridge.stop()
