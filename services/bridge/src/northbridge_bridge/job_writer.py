"""A batch of RQ jobs written by one Lua call: rq's own job format, without rq's cost per job.

rq's ``enqueue_many`` builds each job through ``Job.create`` (a runtime Protocol check of
the serializer, timeout parsing, ``to_dict``, zlib) and queues three commands of some forty
arguments each, which redis-py packs one argument at a time: measured with ``make bench
--profile``, that was about half of the bridge's CPU. Here rq builds one job per queue, once,
as the template of every job's hash (so a field rq adds is carried along); each job only
sets what differs (its id, data, description, times, trace), and the whole batch travels as
one JSON argument to a script that writes each hash, pushes each id on its queue and binds
each id to its event's fingerprint: what ``enqueue_many`` and the bindings did, in the same
MULTI as before.

Two differences from rq, both read by rq as its own: ``data`` is stored uncompressed (rq
falls back to the raw bytes when zlib fails, ``Job.restore``), and the ``status`` field is
written once, with the hash. rq is pinned (3.0); ``test_job_writer`` compares these hashes
with rq's field by field, so an upgrade that changes the format fails a test, not a job.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from redis import Redis
from redis.client import Pipeline
from rq import Queue, Retry
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import utcformat

from northbridge_shared.contracts import DELIVER_JOB
from northbridge_shared.settings import JobSettings

# KEYS: for each job its hash, its queue and its id's binding; ARGV[1]: the jobs as JSON,
# each [id, fingerprint, field, value, ...]; ARGV[2]: the bindings' TTL.
_WRITE: Final = """
local jobs = cjson.decode(ARGV[1])
for i, job in ipairs(jobs) do
  local base = (i - 1) * 3
  redis.call('HSET', KEYS[base + 1], unpack(job, 3))
  redis.call('RPUSH', KEYS[base + 2], job[1])
  redis.call('SET', KEYS[base + 3], job[2], 'EX', ARGV[2])
end
"""
# Set per job; every other field comes from rq's template.
_OWN_FIELDS: Final = frozenset({"created_at", "enqueued_at", "data", "description", "meta"})


@dataclass(frozen=True)
class NewJob:
    """One job to write: its id, queue, the deliver function's argument, and its binding."""

    job_id: str
    queue: str
    payload: dict[str, Any]
    description: str
    meta: dict[str, Any] | None
    binding_key: str
    fingerprint: str


class JobWriter:
    """Queues jobs for the deliver function on a pipeline, in rq's format, a batch per call."""

    def __init__(self, redis: Redis, jobs: JobSettings) -> None:
        self._redis = redis  # rq's Job wants one, though building the template sends nothing
        self._jobs = jobs
        self._templates: dict[str, dict[str, str]] = {}

    def write(self, pipe: Pipeline, batch: Sequence[NewJob]) -> None:
        """Queue ``batch`` on ``pipe`` (the caller executes): hashes, queue entries, bindings."""
        if not batch:
            return
        for name in sorted({job.queue for job in batch}):
            pipe.sadd(Queue.redis_queues_keys, Queue.redis_queue_namespace_prefix + name)
        stamp = utcformat(datetime.now(UTC))
        rows = [self._row(job, stamp) for job in batch]
        keys = [
            key
            for job in batch
            for key in (
                Job.key_for(job.job_id),
                Queue.redis_queue_namespace_prefix + job.queue,
                job.binding_key,
            )
        ]
        arguments = json.dumps(rows, separators=(",", ":"))
        pipe.eval(_WRITE, len(keys), *keys, arguments, self._jobs.event_id_ttl_s)

    def fields(self, job: NewJob, stamp: str) -> dict[str, str]:
        """The hash of ``job`` as this writer stores it (``stamp``: its creation time)."""
        fields = dict(self._template(job.queue))
        data: list[Any] = [DELIVER_JOB, None, [job.payload], {}]  # function, instance, args, kwargs
        fields["data"] = json.dumps(data)
        fields["description"] = job.description
        fields["created_at"] = fields["enqueued_at"] = stamp
        if job.meta:
            fields["meta"] = json.dumps(job.meta)
        return fields

    def _row(self, job: NewJob, stamp: str) -> list[str]:
        row = [job.job_id, job.fingerprint]
        for name, value in self.fields(job, stamp).items():
            row += (name, value)
        return row

    def _template(self, queue: str) -> dict[str, str]:
        """The hash rq makes for a job on ``queue`` with these settings, less per-job fields."""
        if queue not in self._templates:
            sample = rq_job(
                self._redis, self._jobs, queue, NewJob("template", queue, {}, "", None, "", "")
            )
            self._templates[queue] = {
                name: _text(value)
                for name, value in sample.to_dict().items()
                if name not in _OWN_FIELDS
            }
        return self._templates[queue]


def rq_job(redis: Redis, jobs: JobSettings, queue: str, job: NewJob) -> Job:
    """The job rq itself would build for ``job`` (the reference of the format)."""
    return Job.create(
        DELIVER_JOB,
        args=(job.payload,),
        id=job.job_id,
        description=job.description,
        meta=job.meta,
        connection=redis,
        timeout=jobs.timeout_s,
        result_ttl=jobs.result_ttl_s,
        failure_ttl=jobs.failure_ttl_s,
        retry=Retry(max=jobs.retries, interval=jobs.retry_intervals_s) if jobs.retries else None,
        origin=queue,
        status=JobStatus.QUEUED,
        serializer=JSONSerializer,
    )


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, JobStatus):
        return value.value
    return str(value)
