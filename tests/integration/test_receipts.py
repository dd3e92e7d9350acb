"""Every event's receipt answers where it is: each hop, with its time, as it happened."""

import uuid
from typing import Any

from northbridge_shared.contracts import (
    NORTH_TOPIC,
    NOTIFICATION_QUEUE,
    SOUTH_TOPIC,
    dead_letter_topic,
)
from northbridge_shared.identity import derived_event_id

from .conftest import Pipeline
from .support import produce, read_topic, wait_for, wait_for_mail
from .test_delivery import TIMEOUT


def receipt(pipeline: Pipeline, event_id: str) -> dict[str, Any] | None:
    """The receipt the gateway answers, or None while it is 404."""
    response = pipeline.http.get(f"/v1/events/{event_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def receipt_in(pipeline: Pipeline, event_id: str, state: str) -> dict[str, Any]:
    """Wait until the receipt of ``event_id`` reaches ``state``."""
    return wait_for(
        lambda: (r := receipt(pipeline, event_id)) and r["state"] == state and r,
        timeout=TIMEOUT,
        what=f"receipt {state}",
    )


def by_hop(answer: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    hops: dict[str, list[dict[str, Any]]] = {}
    for hop in answer["hops"]:
        hops.setdefault(hop["hop"], []).append(hop)
    return hops


def test_posted_event_receipt_shows_every_hop_in_order(pipeline: Pipeline) -> None:
    """Accepted where the 202 said, enqueued as its job, one attempt, sent with its Message-ID."""
    accepted = pipeline.post("/v1/North", '{"name": "ada", "loc": "receipt"}').json()
    event_id = accepted["id"]
    wait_for_mail(pipeline.mail, event_id)
    answer = receipt_in(pipeline, event_id, "sent")
    assert [h["hop"] for h in answer["hops"]] == ["accepted", "enqueued", "attempt", "sent"]
    hops = {h["hop"]: h for h in answer["hops"]}
    where = {k: accepted[k] for k in ("topic", "partition", "offset")}
    assert {k: hops["accepted"][k] for k in where} == where
    assert hops["enqueued"]["queue"] == NOTIFICATION_QUEUE
    assert hops["enqueued"]["job_id"] == event_id
    assert hops["attempt"]["outcome"] == "sent"
    assert hops["sent"]["message_id"] == f"<{event_id}@test.northbridge>"
    assert hops["sent"]["reply"].startswith("250")
    times = [h["at"] for h in answer["hops"]]
    assert times == sorted(times)


def test_console_producer_event_has_a_receipt_under_its_position_id(pipeline: Pipeline) -> None:
    """A record with no headers is followed by the id derived from where Kafka put it."""
    body = f'{{"name": "raw-{uuid.uuid4().hex[:8]}", "loc": "cli"}}'.encode()
    partition, offset = produce(pipeline.kafka.bootstrap_servers, SOUTH_TOPIC, body)
    event_id = derived_event_id(SOUTH_TOPIC, partition, offset)
    hops = by_hop(receipt_in(pipeline, event_id, "sent"))
    assert (hops["accepted"][0]["partition"], hops["accepted"][0]["offset"]) == (
        partition,
        offset,
    )
    assert len(hops["sent"]) == 1


def test_poison_record_receipt_says_where_its_dead_letter_is(pipeline: Pipeline) -> None:
    """A record that cannot be mailed has a receipt naming the reason and its DLQ position."""
    marker = uuid.uuid4().hex[:8]
    value = f'{{"name": "{marker}"}}'.encode()  # no "loc"
    partition, offset = produce(pipeline.kafka.bootstrap_servers, NORTH_TOPIC, value)
    event_id = derived_event_id(NORTH_TOPIC, partition, offset)
    hops = by_hop(receipt_in(pipeline, event_id, "dead_lettered"))
    [letter] = hops["dead_lettered"]
    assert "loc" in letter["reason"]
    [record] = [
        r
        for r in read_topic(pipeline.kafka.bootstrap_servers, dead_letter_topic(NORTH_TOPIC))
        if r.value == value
    ]
    assert (letter["topic"], letter["partition"], letter["offset"]) == (
        record.topic,
        record.partition,
        record.offset,
    )
    assert "enqueued" not in hops


def test_unknown_event_id_is_a_404_problem(pipeline: Pipeline) -> None:
    """An id nothing wrote, or one no event could have, is 404 with a problem body."""
    for event_id in (f"never-{uuid.uuid4()}", "has.dot"):
        response = pipeline.http.get(f"/v1/events/{event_id}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert event_id in response.json()["detail"]
