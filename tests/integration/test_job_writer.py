"""The bridge writes rq's jobs itself (one script call per batch): rq must see its own jobs."""

import json
import zlib
from typing import Any

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from northbridge_bridge.job_writer import JobWriter, NewJob, rq_job
from northbridge_shared.contracts import NOTIFICATION_QUEUE
from northbridge_shared.settings import JobSettings

PAYLOAD = {"event_id": "x", "topic": "north-updates", "mail": "notification", "event": {}}
SETTINGS = JobSettings(retries=3, retry_intervals_s=[1, 2], timeout_s=42)
PER_JOB = {"created_at", "enqueued_at", "data", "description"}


def new_job(job_id: str, meta: dict[str, str] | None = None) -> NewJob:
    return NewJob(
        job_id=job_id,
        queue=NOTIFICATION_QUEUE,
        payload=PAYLOAD | {"event_id": job_id},
        description=f"deliver north-updates event {job_id}",
        meta=meta,
        binding_key=f"binding:{job_id}",
        fingerprint="fp-" + job_id,
    )


def stored(redis: Redis, job_id: str) -> dict[str, Any]:
    fields: dict[bytes, bytes] = redis.hgetall(Job.key_for(job_id))  # type: ignore[assignment]
    return {name.decode(): value for name, value in fields.items()}


def test_the_hash_is_the_one_rq_writes(private_redis: Redis) -> None:
    redis = private_redis
    meta = {"trace": "00-abc-def-01"}
    queue = Queue(NOTIFICATION_QUEUE, connection=redis, serializer=JSONSerializer)
    reference = rq_job(redis, SETTINGS, NOTIFICATION_QUEUE, new_job("by-rq", meta))
    queue.enqueue_job(reference)
    with redis.pipeline(transaction=True) as pipe:
        JobWriter(redis, SETTINGS).write(pipe, [new_job("by-us", meta)])
        pipe.execute()
    rqs, ours = stored(redis, "by-rq"), stored(redis, "by-us")
    assert set(ours) == set(rqs)
    assert {k: v for k, v in ours.items() if k not in PER_JOB} == {
        k: v for k, v in rqs.items() if k not in PER_JOB
    }
    function, instance, args, kwargs = json.loads(zlib.decompress(rqs["data"]))  # rq zips
    args[0]["event_id"] = "by-us"
    assert json.loads(ours["data"]) == [function, instance, args, kwargs]  # ours is plain
    assert redis.lrange(queue.key, 0, -1) == [b"by-rq", b"by-us"]
    assert redis.get("binding:by-us") == b"fp-by-us"
    assert 0 < redis.ttl("binding:by-us") <= SETTINGS.event_id_ttl_s


def test_rq_reads_and_runs_our_job(private_redis: Redis) -> None:
    """The job rq fetches has the function, argument, retry policy and meta written."""
    redis = private_redis
    with redis.pipeline(transaction=True) as pipe:
        JobWriter(redis, SETTINGS).write(pipe, [new_job("j1", {"trace": "t"}), new_job("j2")])
        pipe.execute()
    job = Job.fetch("j1", connection=redis, serializer=JSONSerializer)
    assert job.func_name == "northbridge_email_worker.jobs.deliver"
    assert list(job.args) == [PAYLOAD | {"event_id": "j1"}]
    assert job.meta == {"trace": "t"}
    assert (job.retries_left, job.retry_intervals, job.timeout) == (3, [1, 2], 42)
    assert job.get_status() == "queued"
    assert Queue(NOTIFICATION_QUEUE, connection=redis).job_ids == ["j1", "j2"]
