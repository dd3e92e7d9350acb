"""Bulk ingest: a JSON array in one POST, answered per item (207), each valid item mailed once."""

import json
import uuid
from collections import Counter

from northbridge_shared.contracts import EMAIL_QUEUE, NOTIFICATION_QUEUE

from .conftest import Pipeline
from .support import drained, end_offsets, wait_for

BULK = 500


def test_500_events_in_one_post_are_each_mailed_once(pipeline: Pipeline) -> None:
    tag = f"bulk{uuid.uuid4().hex[:10]}"
    events = [{"name": f"b{n}", "loc": tag} for n in range(BULK)]
    answer = pipeline.post("/v1/South", json.dumps(events))
    assert answer.status_code == 207, answer.text
    body = answer.json()
    assert (body["accepted"], body["refused"]) == (BULK, 0)
    assert [r["index"] for r in body["results"]] == list(range(BULK))
    ids = {r["id"] for r in body["results"] if r["status"] == 202}
    assert len(ids) == BULK

    wait_for(lambda: len(pipeline.mail.about(tag)) >= BULK, timeout=120, what=f"{BULK} mails")
    queues = (NOTIFICATION_QUEUE, EMAIL_QUEUE)
    wait_for(
        lambda: drained(pipeline.kafka.bootstrap_servers, pipeline.redis, queues),
        timeout=60,
        what="the pipeline to drain",
    )
    mailed = Counter(mail.event_id for mail in pipeline.mail.about(tag))
    assert set(mailed) == ids
    assert set(mailed.values()) == {1}


def test_each_item_is_judged_alone_and_only_valid_ones_are_published(pipeline: Pipeline) -> None:
    before = sum(end_offsets(pipeline.kafka.bootstrap_servers).values())
    body = (
        b'[{"name": "ok", "loc": "mixed"},'
        b' {"name": "no-loc"},'
        b' {"name": "a", "name": "b", "loc": "twice"},'
        b' {"name": "nan", "loc": NaN},'
        b' "not an object"]'
    )
    answer = pipeline.post("/v1/North", body)
    assert answer.status_code == 207, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [202, 422, 422, 422, 422]
    assert results[2]["errors"] == [{"field": "name", "problem": "duplicate key"}]
    assert all(r["type"] == "about:blank" for r in results[1:])
    after = sum(end_offsets(pipeline.kafka.bootstrap_servers).values())
    assert after - before == 1


def test_a_bulk_sent_again_with_its_key_doubles_nothing(pipeline: Pipeline) -> None:
    key, tag = f"bulk-{uuid.uuid4().hex[:8]}", f"again{uuid.uuid4().hex[:8]}"
    events = json.dumps([{"name": f"r{n}", "loc": tag} for n in range(3)])
    first = pipeline.post("/v1/South", events, **{"Idempotency-Key": key})
    again = pipeline.post("/v1/South", events, **{"Idempotency-Key": key})
    ids = [r["id"] for r in first.json()["results"]]
    assert ids == [f"{key}-{n}" for n in range(3)]
    assert [r["id"] for r in again.json()["results"]] == ids
    changed = json.dumps([{"name": "r0", "loc": tag}, {"name": "other", "loc": tag}])
    third = pipeline.post("/v1/South", changed, **{"Idempotency-Key": key})
    assert [r["status"] for r in third.json()["results"]] == [202, 422]
    wait_for(lambda: len(pipeline.mail.about(tag)) >= 3, timeout=60, what="the mails")
    queues = (NOTIFICATION_QUEUE, EMAIL_QUEUE)
    wait_for(
        lambda: drained(pipeline.kafka.bootstrap_servers, pipeline.redis, queues),
        timeout=60,
        what="the pipeline to drain",
    )
    assert Counter(mail.event_id for mail in pipeline.mail.about(tag)) == dict.fromkeys(ids, 1)


def test_a_request_that_is_no_bulk_is_refused_whole(pipeline: Pipeline) -> None:
    empty = pipeline.post("/v1/North", "[]")
    assert empty.status_code == 422
    too_many = json.dumps([{"name": "x", "loc": "y"}] * (BULK + 1))
    refused = pipeline.post("/v1/North", too_many)
    assert refused.status_code == 422
    assert "at most 500" in refused.json()["detail"]
    broken = pipeline.post("/v1/North", '[{"name": "x", "loc": "y"},')
    assert broken.status_code == 400
