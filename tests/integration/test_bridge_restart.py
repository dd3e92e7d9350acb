"""A record the bridge reads again after a restart yields no second job and no second mail."""

import json

from rq.job import Job

from northbridge_shared.contracts import NORTH_TOPIC
from northbridge_stack import services

from .conftest import Pipeline
from .support import (
    commit_offsets,
    committed_offsets,
    end_offsets,
    mails_with_id,
    wait_for_mail,
)
from .test_delivery import settle


def test_reread_after_restart_is_deduplicated(pipeline: Pipeline) -> None:
    """Rewind the group past a delivered event, restart the bridge: still one job, one mail."""
    answer = pipeline.post("/v1/North", '{"name": "ada", "loc": "replay"}').json()
    wait_for_mail(pipeline.mail, answer["id"])
    settle(pipeline)
    job_before = Job.fetch(answer["id"], connection=pipeline.redis)

    old_bridge = pipeline.services["bridge"]
    old_bridge.stop()  # SIGTERM: finish the batch, commit, leave the group
    assert "bridge_stopped" in old_bridge.log_since_spawn()
    bootstrap = pipeline.kafka.bootstrap_servers
    partition = next(
        tp for tp in end_offsets(bootstrap, (NORTH_TOPIC,)) if tp.partition == answer["partition"]
    )
    commit_offsets(bootstrap, {partition: answer["offset"]})  # as if the commit had been lost
    assert committed_offsets(bootstrap, [partition])[partition] == answer["offset"]
    bridge = pipeline.start(services.bridge())

    settle(pipeline)
    batches = [
        json.loads(line) for line in bridge.log_since_spawn().splitlines() if '"batch_done"' in line
    ]
    assert sum(b["duplicates"] for b in batches) >= 1  # the rewound records were read again
    assert sum(b["enqueued"] for b in batches) == 0
    assert len(mails_with_id(pipeline.mail, answer["id"])) == 1
    job_after = Job.fetch(answer["id"], connection=pipeline.redis)
    assert job_after.enqueued_at == job_before.enqueued_at
