"""A second bridge joining and leaving mid-burst moves partitions without losing or doubling."""

import json
from collections import Counter

from northbridge_stack.processes import ManagedProcess
from northbridge_stack.services import Service

from .conftest import Pipeline
from .support import group_members, wait_for
from .test_delivery import settle

BURST = 300


def enqueued(process: ManagedProcess) -> int:
    """Jobs a bridge created since it started, from its batch_done lines."""
    return sum(
        json.loads(line)["enqueued"]
        for line in process.log_since_spawn().splitlines()
        if '"batch_done"' in line
    )


def post_events(pipeline: Pipeline, first: int, last: int) -> list[str]:
    ids = []
    for n in range(first, last):
        path = "/v1/North" if n % 2 else "/v1/South"
        response = pipeline.post(path, json.dumps({"name": f"rebalance-{n}", "loc": "x"}))
        assert response.status_code == 202
        ids.append(response.json()["id"])
    return ids


def test_bridge_joining_and_leaving_mid_burst(pipeline: Pipeline) -> None:
    """Every event of the burst gets exactly one job and one mail across two rebalances."""
    settle(pipeline)
    bridge = pipeline.services["bridge"]
    before = enqueued(bridge)
    ids = post_events(pipeline, 0, BURST // 3)
    second = pipeline.start(Service("bridge-2", "northbridge_bridge"))
    wait_for(  # the group has rebalanced onto both bridges
        lambda: group_members(pipeline.kafka.bootstrap_servers) == ("Stable", 2),
        timeout=60,
        what="a stable group of two bridges",
    )
    ids += post_events(pipeline, BURST // 3, 2 * BURST // 3)
    second.stop()  # SIGTERM: finish the batch, commit, leave: its partitions move back
    ids += post_events(pipeline, 2 * BURST // 3, BURST)
    settle(pipeline)

    assert "partitions_revoked" in bridge.log_since_spawn()  # a rebalance did happen
    assert enqueued(bridge) - before + enqueued(second) == BURST
    sent = Counter(mail.event_id for mail in pipeline.mail.all())
    assert [event_id for event_id in ids if sent[event_id] != 1] == []
