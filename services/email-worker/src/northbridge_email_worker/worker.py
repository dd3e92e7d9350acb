"""Build the rq worker from settings."""

from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

from northbridge_shared.settings import RedisSettings, WorkerSettings

# rq's worker_ttl. An idle worker blocks on its queues for worker_ttl - 15 s, then writes its
# heartbeat (last_heartbeat, and its key's expiry: worker_ttl + 60 s) and blocks again. rq's
# default, 420 s, would leave a hung or gone worker looking alive for 7 minutes; 60 s means a
# heartbeat every 45 s when idle, for one more Redis round trip per worker per 45 s.
WORKER_TTL_S = 60


def build_worker(worker: WorkerSettings, redis: RedisSettings) -> BaseWorker:
    """A worker on the configured queues, JSON serializer, simple or forking."""
    connection = Redis.from_url(redis.url)
    queues = [
        Queue(name, connection=connection, serializer=JSONSerializer) for name in worker.queues
    ]
    kind = SimpleWorker if worker.mode == "simple" else Worker
    return kind(queues, connection=connection, serializer=JSONSerializer, worker_ttl=WORKER_TTL_S)
