"""The bridge's Prometheus metrics: records, hops, batches, consumer lag, and the rq queues.

Lag has the shape kafka_exporter gives it (``kafka_consumergroup_lag{consumergroup, topic,
partition}``), for the partitions this bridge owns, set every :data:`LAG_EVERY_S`: the
partition's end offset as the consumer last saw it (no request) minus the offset this bridge
last committed (asked of Kafka once per newly owned partition). Dashboards and alerts
written for kafka_exporter work unchanged. ``rq_jobs{queue, status}`` is read from
Redis when scraped, as rq-exporter shapes it.
"""

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Final

import structlog
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.registry import (
    CanceledJobRegistry,
    DeferredJobRegistry,
    FailedJobRegistry,
    FinishedJobRegistry,
    ScheduledJobRegistry,
    StartedJobRegistry,
)

from northbridge_shared.metrics import events_counter

log = structlog.get_logger(__name__)

# Often enough for a 15 s scrape; costs no request once the partitions' commits are known.
LAG_EVERY_S: Final = 5.0
LAG_TIMEOUT_S: Final = 2.0
REGISTRIES: Final = {
    "started": StartedJobRegistry,
    "scheduled": ScheduledJobRegistry,
    "deferred": DeferredJobRegistry,
    "finished": FinishedJobRegistry,
    "failed": FailedJobRegistry,
    "canceled": CanceledJobRegistry,
}


class BridgeMetrics:
    """What the bridge counts, in a registry of its own."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.registry = registry = CollectorRegistry()
        self.consumed = Counter(
            "northbridge_records_consumed", "Kafka records read", ["topic"], registry=registry
        )
        self.events = events_counter(registry)
        self.batch = Histogram(
            "northbridge_bridge_batch_duration_seconds",
            "Time to settle a batch: plan, dead letters, jobs (not the commit)",
            registry=registry,
        )
        partition = ["consumergroup", "topic", "partition"]
        self.lag = Gauge(
            "kafka_consumergroup_lag", "Records not yet committed", partition, registry=registry
        )
        self.committed = Gauge(
            "kafka_consumergroup_current_offset",
            "The group's committed offset",
            partition,
            registry=registry,
        )
        self.end = Gauge(
            "kafka_topic_partition_current_offset",
            "The partition's end offset: records ever written",
            ["topic", "partition"],
            registry=registry,
        )
        self._seen: set[TopicPartition] = set()
        self._done: dict[TopicPartition, int] = {}  # the offsets this bridge committed

    def count(self, topic: str, hop: str, amount: int = 1) -> None:
        """``amount`` events of ``topic`` reached ``hop``."""
        if amount:
            self.events.labels(topic, hop).inc(amount)

    def committed_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        """Kafka took these commits of this bridge."""
        self._done.update(offsets)

    async def measure_lag(self, consumer: Any) -> None:
        """Set the lag gauges of the partitions this bridge owns; forget those it gave up."""
        owned = set(consumer.assignment())
        for tp in self._seen - owned:
            self._forget(tp)
        self._seen = owned
        try:
            async with asyncio.timeout(LAG_TIMEOUT_S):
                for tp in owned - self._done.keys():  # newly owned: its commit, asked once
                    self._done[tp] = await consumer.committed(tp) or 0
        except (KafkaError, TimeoutError) as error:
            log.debug("lag_not_measured", error=repr(error))
        for tp in owned:
            end, done = consumer.highwater(tp), self._done.get(tp)
            if end is None or done is None:
                continue  # nothing fetched yet, or its commit not known yet
            labels = (self.group, tp.topic, str(tp.partition))
            self.lag.labels(*labels).set(max(end - done, 0))
            self.committed.labels(*labels).set(done)
            self.end.labels(tp.topic, str(tp.partition)).set(end)

    def _forget(self, tp: TopicPartition) -> None:
        """A partition given up: its next owner reports it (and commits it from now on)."""
        self._done.pop(tp, None)
        labels = (self.group, tp.topic, str(tp.partition))
        with contextlib.suppress(KeyError):  # never measured
            self.lag.remove(*labels)
            self.committed.remove(*labels)
            self.end.remove(tp.topic, str(tp.partition))


class QueueCollector(Collector):
    """``rq_jobs{queue, status}`` and ``rq_workers``, read from Redis at each scrape."""

    def __init__(self, redis: Redis, queues: Iterable[str]) -> None:
        self._redis = redis
        self._queues = sorted(set(queues))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge family of job counts per queue and status, one of live workers."""
        jobs = GaugeMetricFamily(
            "rq_jobs", "rq jobs by queue and status", labels=["queue", "status"]
        )
        try:
            for name in self._queues:
                queue = Queue(name, connection=self._redis)
                jobs.add_metric([name, "queued"], queue.count)
                for status, registry in REGISTRIES.items():
                    # No cleanup: a scrape must not move abandoned jobs (the workers do).
                    count = registry(queue=queue).get_job_count(cleanup=False)
                    jobs.add_metric([name, status], count)
            workers = Worker.count(connection=self._redis)
        except RedisError as error:
            log.warning("queue_metrics_not_read", error=repr(error))
            return
        yield jobs
        yield GaugeMetricFamily("rq_workers", "rq workers registered", value=workers)
