"""Build the rq worker from settings."""

from redis import Redis
from rq import Queue, SimpleWorker, Worker
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

from northbridge_shared.settings import RedisSettings, WorkerSettings


def build_worker(worker: WorkerSettings, redis: RedisSettings) -> BaseWorker:
    """A worker on the configured queues, JSON serializer, simple or forking."""
    connection = Redis.from_url(redis.url)
    queues = [
        Queue(name, connection=connection, serializer=JSONSerializer) for name in worker.queues
    ]
    kind = SimpleWorker if worker.mode == "simple" else Worker
    return kind(queues, connection=connection, serializer=JSONSerializer)
