"""The ``northbridge`` command against the real pipeline: receipts, replays, retries, load."""

import json
import subprocess
import sys
import uuid
from typing import Any

from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from northbridge_shared.contracts import DELIVER_JOB, NORTH_TOPIC, dead_letter_topic
from northbridge_shared.identity import derived_event_id
from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline
from .support import mails_about, mails_with_id, produce, read_topic, wait_for, wait_for_mail
from .test_delivery import TIMEOUT, settle
from .test_receipts import receipt_in


def northbridge(
    pipeline: Pipeline, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``northbridge`` command with the pipeline's settings."""
    return subprocess.run(
        [sys.executable, "-m", "northbridge_ops", *args],
        env={**pipeline.env, "NORTHBRIDGE_GATEWAY_URL": pipeline.gateway_url, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def hops_named(answer: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [hop for hop in answer["hops"] if hop["hop"] == name]


def test_events_show_prints_the_receipt(pipeline: Pipeline) -> None:
    """`northbridge events show ID --json` prints what GET /v1/events/{id} answers."""
    event_id = pipeline.post("/v1/South", '{"name": "ada", "loc": "cli"}').json()["id"]
    over_http = receipt_in(pipeline, event_id, "sent")
    shown = json.loads(northbridge(pipeline, "events", "show", event_id, "--json").stdout)
    assert shown == over_http
    table = northbridge(pipeline, "events", "show", event_id).stdout
    assert "accepted" in table
    assert "sent" in table
    missing = northbridge(pipeline, "events", "show", f"never-{uuid.uuid4()}", check=False)
    assert missing.returncode == 1


def test_poison_replayed_after_a_fix_becomes_one_mail(pipeline: Pipeline) -> None:
    """Replayed as is, a bad record is dead-lettered again; fixed, it is one mail however often."""
    marker = f"fix-{uuid.uuid4().hex[:8]}"
    bad = json.dumps({"name": marker}).encode()  # no "loc"
    partition, offset = produce(pipeline.kafka.bootstrap_servers, NORTH_TOPIC, bad)
    event_id = derived_event_id(NORTH_TOPIC, partition, offset)
    receipt_in(pipeline, event_id, "dead_lettered")

    listed = json.loads(northbridge(pipeline, "dlq", "list", NORTH_TOPIC, "--json").stdout)
    mine = [item for item in listed if item["event_id"] == event_id]
    assert len(mine) == 1, [(i["event_id"], i["reason"]) for i in listed][-5:]
    [letter] = mine
    assert "loc" in letter["reason"]
    where = f"{letter['partition']}:{letter['offset']}"

    northbridge(pipeline, "dlq", "replay", NORTH_TOPIC, "--offsets", where)
    again = receipt_in(pipeline, event_id, "dead_lettered")
    assert len(hops_named(again, "dead_lettered")) == 2  # back in the DLQ once, no loop
    assert len(hops_named(again, "replayed")) == 1

    fixed = json.dumps({"name": marker, "loc": "fixed"})
    for _ in range(2):  # the same fix replayed twice is still one event
        northbridge(pipeline, "dlq", "replay", NORTH_TOPIC, "--offsets", where, "--value", fixed)
    wait_for_mail(pipeline.mail, event_id)
    settle(pipeline)
    assert len(mails_with_id(pipeline.mail, event_id)) == 1
    assert len(mails_about(pipeline.mail, marker)) == 1
    done = receipt_in(pipeline, event_id, "sent")
    assert len(hops_named(done, "replayed")) == 3
    letters = read_topic(pipeline.kafka.bootstrap_servers, dead_letter_topic(NORTH_TOPIC))
    assert sum(marker.encode() in (r.value or b"") for r in letters) == 2


def test_replay_refuses_a_fixed_value_for_many_dead_letters(pipeline: Pipeline) -> None:
    """--value stands for one record's body; with several selected nothing is replayed."""
    refused = northbridge(pipeline, "dlq", "replay", NORTH_TOPIC, "--value", "{}", check=False)
    assert refused.returncode == 2
    assert "one dead letter" in refused.stderr


def test_retry_failed_runs_a_failed_job_again_and_notes_it(pipeline: Pipeline) -> None:
    """A job failed for good (SMTP down), requeued once SMTP is back: one mail, every hop noted."""
    queue_name = f"RetryQueue-{uuid.uuid4().hex[:6]}"
    broken = pipeline.start(
        services.worker(98), {"WORKER_QUEUES": f'["{queue_name}"]', "SMTP_PORT": str(free_port())}
    )
    event_id = f"evt-{uuid.uuid4()}"
    queue = Queue(queue_name, connection=pipeline.redis, serializer=JSONSerializer)
    payload = {
        "event_id": event_id,
        "topic": "south-updates",
        "mail": "direct",
        "event": {"name": "ada", "loc": "retry-failed"},
    }
    try:
        job = queue.enqueue(DELIVER_JOB, payload, job_id=event_id)
        registry = FailedJobRegistry(queue=queue)
        wait_for(lambda: job.id in registry.get_job_ids(), timeout=TIMEOUT, what="the failure")
    finally:
        broken.stop()
    result = northbridge(pipeline, "jobs", "retry-failed", "--queue", queue_name)
    assert f"requeued 1 failed jobs ({queue_name} 1)" in result.stdout
    healthy = pipeline.start(services.worker(97), {"WORKER_QUEUES": f'["{queue_name}"]'})
    try:
        wait_for_mail(pipeline.mail, event_id)
        answer = receipt_in(pipeline, event_id, "sent")
    finally:
        healthy.stop()
    assert [h["hop"] for h in answer["hops"]] == [
        "attempt",
        "failed",
        "requeued",
        "attempt",
        "sent",
    ]
    assert len(mails_with_id(pipeline.mail, event_id)) == 1


def test_load_sends_events_and_summarises_the_answers(pipeline: Pipeline) -> None:
    """`northbridge load` posts COUNT events at RATE and says how they were answered."""
    result = northbridge(pipeline, "load", "--rate", "50", "--count", "20")
    assert "202: 20" in result.stdout
    assert "latency  p50" in result.stdout
