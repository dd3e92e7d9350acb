"""An event id means one event: reused for another, it is refused or dead-lettered, not dropped."""

import json
import uuid
from functools import partial
from pathlib import Path

import httpx

from northbridge_shared.contracts import NORTH_TOPIC, SOUTH_TOPIC, dead_letter_topic
from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline, spawn, status
from .support import end_offsets, mails_about, mails_with_id, produce, read_topic, wait_for
from .test_delivery import TIMEOUT, settle


def event(name: str) -> str:
    return json.dumps({"name": name, "loc": "identity"})


def test_key_reused_with_another_body_is_refused(pipeline: Pipeline) -> None:
    """The second body under one Idempotency-Key gets 422 and publishes nothing."""
    key = f"order-{uuid.uuid4()}"
    first = pipeline.post("/v1/North", event("first"), **{"Idempotency-Key": key})
    assert first.status_code == 202
    before = end_offsets(pipeline.kafka.bootstrap_servers)
    second = pipeline.post("/v1/North", event("second"), **{"Idempotency-Key": key})
    assert second.status_code == 422
    assert second.headers["content-type"].startswith("application/problem+json")
    assert key in second.json()["detail"]
    assert end_offsets(pipeline.kafka.bootstrap_servers) == before
    retry = pipeline.post("/v1/North", event("first"), **{"Idempotency-Key": key})
    assert retry.status_code == 202  # the same event again is a retry, not a reuse


def test_key_reused_on_the_other_endpoint_is_refused(pipeline: Pipeline) -> None:
    """North then South under one key: South gets 422, and North is mailed once."""
    key = f"order-{uuid.uuid4()}"
    body = event(f"both-ways-{key}")
    assert pipeline.post("/v1/North", body, **{"Idempotency-Key": key}).status_code == 202
    south = pipeline.post("/v1/South", body, **{"Idempotency-Key": key})
    assert south.status_code == 422
    wait_for(lambda: mails_with_id(pipeline.mail, key), timeout=TIMEOUT, what="North's mail")
    settle(pipeline)
    assert len(mails_with_id(pipeline.mail, key)) == 1


def test_client_key_never_meets_a_position_id(pipeline: Pipeline) -> None:
    """A key spelled like a console record's position is its own event: both are mailed."""
    marker = uuid.uuid4().hex
    partition, offset = produce(
        pipeline.kafka.bootstrap_servers, NORTH_TOPIC, event(f"console-{marker}").encode()
    )
    key = f"{NORTH_TOPIC}-{partition}-{offset}"
    posted = pipeline.post("/v1/North", event(f"posted-{marker}"), **{"Idempotency-Key": key})
    assert posted.status_code == 202
    for name in (f"console-{marker}", f"posted-{marker}"):
        wait_for(partial(mails_about, pipeline.mail, name), timeout=TIMEOUT, what=name)


def test_forged_event_id_with_another_body_is_dead_lettered_as_a_conflict(
    pipeline: Pipeline,
) -> None:
    """A Kafka record reusing an earlier event's id for another event is parked, not dropped."""
    marker = uuid.uuid4().hex
    answer = pipeline.post("/v1/South", event(f"original-{marker}")).json()
    bootstrap = pipeline.kafka.bootstrap_servers
    header = [("event-id", answer["id"].encode())]
    forged = event(f"forged-{marker}").encode()
    produce(bootstrap, SOUTH_TOPIC, forged, key=marker.encode(), headers=header)
    replayed = event(f"original-{marker}").encode()
    _, replayed_at = produce(bootstrap, SOUTH_TOPIC, replayed, key=marker.encode(), headers=header)
    settle(pipeline)

    assert len(mails_with_id(pipeline.mail, answer["id"])) == 1
    assert not mails_about(pipeline.mail, f"forged-{marker}")
    [dead] = [r for r in read_topic(bootstrap, dead_letter_topic(SOUTH_TOPIC)) if r.value == forged]
    assert dict(dead.headers)["error"].decode().startswith("conflict: event id")
    duplicates = [
        json.loads(line)
        for line in pipeline.services["bridge"].log_since_spawn().splitlines()
        if '"duplicate_event"' in line and answer["id"] in line
    ]
    assert [d["offset"] for d in duplicates] == [replayed_at]  # the true duplicate, named


def test_key_is_not_accepted_unchecked_while_redis_is_away(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """Without Redis a keyed event gets 503 (nothing published); one without a key flows."""
    port = free_port()
    env = pipeline.env | {
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
    }
    gateway = spawn(services.gateway(), tmp_path, env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            gateway.wait_until(lambda: status(http, "/readyz") == 200, timeout=60, what="ready")
            before = end_offsets(pipeline.kafka.bootstrap_servers)
            keyed = http.post(
                "/v1/North",
                content=event("keyed"),
                headers={"content-type": "application/json", "Idempotency-Key": "k-1"},
            )
            assert keyed.status_code == 503
            assert int(keyed.headers["retry-after"]) > 0
            assert end_offsets(pipeline.kafka.bootstrap_servers) == before
            plain = http.post(
                "/v1/North", content=event("plain"), headers={"content-type": "application/json"}
            )
            assert plain.status_code == 202
    finally:
        gateway.stop()
