"""CloudEvents over HTTP in both content modes become Kafka records a CloudEvents consumer reads."""

import json
import uuid
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from northbridge_shared.contracts import EVENT_ID_HEADER, SOUTH_TOPIC

from .conftest import Pipeline
from .support import end_offsets, read_topic, wait_for_mail


def record_of(pipeline: Pipeline, event_id: str) -> Any:
    records = read_topic(pipeline.kafka.bootstrap_servers, SOUTH_TOPIC)
    found = [r for r in records if (EVENT_ID_HEADER, event_id.encode()) in r.headers]
    assert found, f"no record for {event_id}"
    return found[-1]


def as_cloud_event(record: Any) -> Any:
    """The record read by the CloudEvents SDK's Kafka binding, as any CE consumer would."""
    headers = dict(record.headers)
    return from_binary(KafkaMessage(headers, record.key, record.value), JSONFormat())


def test_binary_mode_is_published_with_ce_headers_and_mailed_once(pipeline: Pipeline) -> None:
    ce_id, name = f"order-{uuid.uuid4().hex[:8]}", f"ce{uuid.uuid4().hex[:8]}"
    headers = {
        "ce-specversion": "1.0",
        "ce-id": ce_id,
        "ce-source": "/shop/orders",
        "ce-type": "com.example.order.placed",
        "ce-subject": "order 42",
    }
    body = json.dumps({"name": name, "loc": "cloud"})
    first = pipeline.post("/v1/South", body, **headers)
    assert first.status_code == 202, first.text
    again = pipeline.post("/v1/South", body, **headers)  # the same CloudEvent: one event
    event_id = first.json()["id"]
    assert again.json()["id"] == event_id

    received = as_cloud_event(record_of(pipeline, event_id))
    attributes = received.get_attributes()
    assert attributes["id"] == ce_id
    assert attributes["source"] == "/shop/orders"
    assert attributes["type"] == "com.example.order.placed"
    assert attributes["subject"] == "order 42"
    assert attributes["datacontenttype"] == "application/json"
    assert received.get_data() == {"name": name, "loc": "cloud"}
    assert len(wait_for_mail(pipeline.mail, event_id)) == 1


def test_structured_mode_carries_its_data_as_the_event(pipeline: Pipeline) -> None:
    name = f"st{uuid.uuid4().hex[:8]}"
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:example:crm",
        "type": "com.example.contact",
        "datacontenttype": "application/json",
        "data": {"name": name, "loc": "structured"},
    }
    answer = pipeline.post(
        "/v1/South", json.dumps(envelope), **{"content-type": "application/cloudevents+json"}
    )
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["id"]
    received = as_cloud_event(record_of(pipeline, event_id))
    assert received.get_attributes()["source"] == "urn:example:crm"
    assert received.get_data() == {"name": name, "loc": "structured"}
    assert wait_for_mail(pipeline.mail, event_id)


def test_a_bad_cloud_event_is_refused_and_nothing_published(pipeline: Pipeline) -> None:
    before = end_offsets(pipeline.kafka.bootstrap_servers)
    base = {"ce-specversion": "1.0", "ce-id": "x-1", "ce-type": "t"}  # no ce-source
    seed = json.dumps({"name": "ada", "loc": "x"})
    missing = pipeline.post("/v1/South", seed, **base)
    assert missing.status_code == 400, missing.text
    assert missing.json()["detail"].startswith("not a valid CloudEvent")
    full = base | {"ce-source": "/s"}
    not_an_event = pipeline.post("/v1/South", json.dumps({"order": 42}), **full)
    assert not_an_event.status_code == 422
    text = pipeline.post("/v1/South", "hello", **full | {"content-type": "text/plain"})
    assert text.status_code == 415
    assert end_offsets(pipeline.kafka.bootstrap_servers) == before
