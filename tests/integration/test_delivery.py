"""Events posted over HTTP or written straight into Kafka become exactly one mail each."""

import re
import subprocess
import uuid

import pytest

from northbridge_shared.contracts import NORTH_TOPIC, SOUTH_TOPIC, dead_letter_topic

from .conftest import QUEUES, Pipeline
from .support import drained, mails_about, mails_with_id, read_topic, wait_for, wait_for_mail

TIMEOUT = 30


def settle(pipeline: Pipeline) -> None:
    """Wait until every record is committed and every job done, so counts are final."""
    wait_for(
        lambda: drained(pipeline.kafka.bootstrap_servers, pipeline.redis, QUEUES),
        timeout=TIMEOUT,
        what="the pipeline to drain",
    )


@pytest.mark.parametrize(
    ("path", "topic"), [("/v1/North", NORTH_TOPIC), ("/v1/South", SOUTH_TOPIC)]
)
def test_seed_payload_becomes_exactly_one_mail(pipeline: Pipeline, path: str, topic: str) -> None:
    """The legacy payload gets 202 with where it landed, then one mail with its id."""
    response = pipeline.post(path, '{"name": "ada", "loc": "london"}')
    assert response.status_code == 202
    answer = response.json()
    assert answer["topic"] == topic
    assert isinstance(answer["partition"], int)
    assert isinstance(answer["offset"], int)
    wait_for_mail(pipeline.mail, answer["id"])
    settle(pipeline)
    [mail] = mails_with_id(pipeline.mail, answer["id"])
    assert mail.to == ("ops@localhost",)
    assert "ada" in mail.subject


def test_events_spread_over_partitions(pipeline: Pipeline) -> None:
    """Keyed events do not all land on partition 0 (the old system's defect)."""
    partitions = {
        pipeline.post("/v1/North", f'{{"name": "user-{n}", "loc": "x"}}').json()["partition"]
        for n in range(20)
    }
    assert len(partitions) > 1


def test_idempotency_key_yields_one_mail_for_two_posts(pipeline: Pipeline) -> None:
    """A client retry with the same Idempotency-Key is one event: one job, one mail."""
    key = f"order-{uuid.uuid4()}"
    body = '{"name": "ada", "loc": "retry", "recipient": "ada@example.com"}'
    first = pipeline.post("/v1/South", body, **{"Idempotency-Key": key})
    second = pipeline.post("/v1/South", body, **{"Idempotency-Key": key})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json()["id"] == second.json()["id"] == key
    wait_for(lambda: mails_with_id(pipeline.mail, key), timeout=TIMEOUT, what="the mail")
    settle(pipeline)
    assert len(mails_with_id(pipeline.mail, key)) == 1


def produce(pipeline: Pipeline, topic: str, lines: list[str]) -> None:
    """Write raw lines with the real kafka-console-producer, as a user would."""
    subprocess.run(
        pipeline.kafka.console_producer_argv(topic),
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=60,
        capture_output=True,
    )


def test_console_producer_event_becomes_a_mail(pipeline: Pipeline) -> None:
    """A raw JSON line (no key, no headers) gets an id from its position and is mailed once."""
    name = f"console-{uuid.uuid4().hex[:8]}"
    produce(pipeline, NORTH_TOPIC, [f'{{"name": "{name}", "loc": "cli"}}'])
    wait_for(lambda: mails_about(pipeline.mail, name), timeout=TIMEOUT, what="the mail")
    settle(pipeline)
    [mail] = mails_about(pipeline.mail, name)
    assert re.fullmatch(r"_north-updates-\d+-\d+@test\.northbridge", mail.message_id)


def test_poison_record_goes_to_dead_letter_and_next_one_flows(pipeline: Pipeline) -> None:
    """A malformed record lands in <topic>.dlq with the error; the bridge carries on."""
    marker = uuid.uuid4().hex[:8]
    good = f"after-poison-{marker}"
    produce(pipeline, SOUTH_TOPIC, [f"{{not json {marker}", f'{{"name": "{good}", "loc": "x"}}'])
    wait_for(lambda: mails_about(pipeline.mail, good), timeout=TIMEOUT, what="the good mail")
    dead = [
        r
        for r in read_topic(pipeline.kafka.bootstrap_servers, dead_letter_topic(SOUTH_TOPIC))
        if r.value == f"{{not json {marker}".encode()
    ]
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert b"JSON" in headers["error"]
    assert headers["original-topic"] == SOUTH_TOPIC.encode()
