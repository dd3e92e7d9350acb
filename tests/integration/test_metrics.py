"""Every service's /metrics: counts that move, summed right, and hops that reconcile."""

import uuid
from collections import defaultdict
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from northbridge_shared.contracts import NORTH_TOPIC, SOUTH_TOPIC
from northbridge_shared.receipts import COUNTS_PREFIX

from .conftest import Pipeline
from .support import end_offsets, mails_about, wait_for
from .test_delivery import TIMEOUT, settle

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """Every sample at ``url``, keyed by name and labels, on a connection of its own."""
    text = httpx.get(url, timeout=10, headers={"Connection": "close"}).text
    samples: Samples = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] += sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        value
        for (sample, have), value in samples.items()
        if sample == name and set(labels.items()) <= set(have)
    )


def hop(pipeline: Pipeline, service: str, topic: str, name: str) -> float:
    """``northbridge_events_total{topic, hop}`` summed over every process of ``service``."""
    urls = {
        "gateway": [f"{pipeline.gateway_url}/metrics"],
        "bridge": [pipeline.metrics_urls["bridge"]],
        "worker": [pipeline.metrics_urls[f"email-worker-{n}"] for n in (1, 2)],
    }[service]
    return sum(
        total(scrape(url), "northbridge_events_total", topic=topic, hop=name) for url in urls
    )


def test_gateway_counts_every_request_across_its_processes(pipeline: Pipeline) -> None:
    """Whichever worker process answers /metrics, it reports the requests of all of them."""
    url = f"{pipeline.gateway_url}/metrics"
    labels = {"route": "/v1/South", "method": "POST", "status": "202"}
    before = total(scrape(url), "http_requests_total", **labels)
    for n in range(40):  # a connection each, so gunicorn spreads them over its workers
        answer = httpx.post(
            f"{pipeline.gateway_url}/v1/South",
            content=f'{{"name": "m{n}", "loc": "metrics"}}',
            headers={"content-type": "application/json", "Connection": "close"},
        )
        assert answer.status_code == 202
    counted = {total(scrape(url), "http_requests_total", **labels) - before for _ in range(10)}
    assert counted == {40}
    assert len(_worker_files(pipeline)) >= 2  # the requests did reach more than one process
    after = scrape(url)
    assert total(after, "http_request_duration_seconds_count", route="/v1/South") >= 40
    assert total(after, "northbridge_publish_duration_seconds_count", topic=SOUTH_TOPIC) >= 40


def _worker_files(pipeline: Pipeline) -> set[Path]:
    """The metric files of the gateway's worker processes (its master's children)."""
    master = pipeline.services["gateway"].pid
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return {
        path
        for pid in children
        for path in Path("/dev/shm").glob(f"northbridge-gateway-metrics-*/counter_{pid}.db")  # noqa: S108
    }


def test_hops_reconcile_after_a_burst(pipeline: Pipeline) -> None:
    """A burst of valid events: as many accepted, enqueued and sent, per topic."""
    settle(pipeline)
    hops = (("gateway", "accepted"), ("bridge", "enqueued"), ("worker", "sent"))
    before = {name: hop(pipeline, service, NORTH_TOPIC, name) for service, name in hops}
    ledger_before = ledger(pipeline, NORTH_TOPIC)
    marker = f"burst-{uuid.uuid4().hex[:8]}"
    for n in range(30):
        answer = pipeline.post("/v1/North", f'{{"name": "{marker}-{n}", "loc": "x"}}')
        assert answer.status_code == 202
    wait_for(
        lambda: len(mails_about(pipeline.mail, marker)) == 30, timeout=TIMEOUT, what="30 mails"
    )
    settle(pipeline)
    moved = {
        name: hop(pipeline, service, NORTH_TOPIC, name) - before[name] for service, name in hops
    }
    assert moved == {"accepted": 30, "enqueued": 30, "sent": 30}
    wanted = {name: ledger_before.get(name, 0) + 30 for _, name in hops}
    wait_for(
        lambda: {name: ledger(pipeline, NORTH_TOPIC).get(name, 0) for _, name in hops} == wanted,
        timeout=TIMEOUT,
        what="the ledger in Redis to count 30 at each hop",
    )


def ledger(pipeline: Pipeline, topic: str) -> dict[str, int]:
    """The durable counts of ``topic`` in Redis (what the dashboard shows)."""
    counts: dict[bytes, bytes] = pipeline.redis.hgetall(f"{COUNTS_PREFIX}{topic}")  # type: ignore[assignment]
    return {field.decode(): int(value) for field, value in counts.items()}


def test_bridge_reports_lag_per_partition_and_the_queues(pipeline: Pipeline) -> None:
    """kafka_exporter-shaped lag for every partition it owns, zero once drained; rq_jobs."""
    settle(pipeline)
    url = pipeline.metrics_urls["bridge"]
    partitions = {
        (tp.topic, str(tp.partition)) for tp in end_offsets(pipeline.kafka.bootstrap_servers)
    }

    def drained_lag() -> Samples | None:
        samples = scrape(url)
        lag = {
            (dict(labels)["topic"], dict(labels)["partition"]): value
            for (name, labels), value in samples.items()
            if name == "kafka_consumergroup_lag"
        }
        return samples if set(lag) == partitions and not any(lag.values()) else None

    samples = wait_for(drained_lag, timeout=TIMEOUT, what="lag 0 on every partition")
    assert total(samples, "rq_jobs", queue="NotificationQueue", status="queued") == 0
    assert total(samples, "rq_workers") >= 2
    assert total(samples, "northbridge_records_consumed_total") > 0
