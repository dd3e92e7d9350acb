"""With Kafka gone the gateway answers 503 quickly and honestly, and recovers on its own."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from northbridge_shared.contracts import NORTH_TOPIC
from northbridge_stack import services
from northbridge_stack.kafka import KafkaBroker
from northbridge_stack.ports import free_port
from northbridge_stack.topics import create_topics

from .conftest import Pipeline, spawn, status
from .infrastructure import kafka_broker
from .support import produce, wait_for, wait_for_mail

PUBLISH_TIMEOUT_S = 2
SEED = '{"name": "ada", "loc": "london"}'
JSON = {"content-type": "application/json"}


@pytest.fixture
def lone_kafka(tmp_path: Path) -> Iterator[KafkaBroker]:
    """A broker of this test's own, so stopping it disturbs no other test."""
    with kafka_broker(tmp_path / "kafka") as broker:
        yield broker


@pytest.fixture
def gateway(tmp_path: Path, lone_kafka: KafkaBroker, pipeline: Pipeline) -> Iterator[httpx.Client]:
    port = free_port()
    env = {
        **pipeline.env,
        "KAFKA_BOOTSTRAP_SERVERS": lone_kafka.bootstrap_servers,
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_PUBLISH_TIMEOUT_S": str(PUBLISH_TIMEOUT_S),
    }
    process = spawn(services.gateway(), tmp_path, env)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        process.wait_until(lambda: status(http, "/readyz") == 200, timeout=60, what="ready")
        yield http
    process.stop()


def test_kafka_down_gives_503_then_recovers(lone_kafka: KafkaBroker, gateway: httpx.Client) -> None:
    """No hang and no false 2xx while Kafka is down; 202 again once it is back."""
    assert gateway.post("/v1/North", content=SEED, headers=JSON).status_code == 202
    lone_kafka.stop()

    started = time.monotonic()
    response = gateway.post("/v1/North", content=SEED, headers=JSON)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    assert elapsed < PUBLISH_TIMEOUT_S + 3  # bounded by the publish timeout, not a hang
    assert status(gateway, "/readyz") == 503
    assert status(gateway, "/healthz") == 200

    lone_kafka.start()
    wait_for(lambda: status(gateway, "/readyz") == 200, timeout=60, what="readyz after restart")
    assert gateway.post("/v1/North", content=SEED, headers=JSON).status_code == 202


def test_bridge_started_before_kafka_waits_for_it(pipeline: Pipeline, tmp_path: Path) -> None:
    """A bridge whose Kafka is not up yet keeps trying, then delivers once Kafka answers."""
    late = KafkaBroker(tmp_path / "kafka", port=free_port(), controller_port=free_port())
    env = pipeline.env | {
        "KAFKA_BOOTSTRAP_SERVERS": late.bootstrap_servers,
        "BRIDGE_HEARTBEAT_FILE": str(tmp_path / "bridge.alive"),
        "BRIDGE_RETRY_BACKOFF_MAX_S": "1",
    }
    bridge = spawn(services.bridge(), tmp_path, env, name="late-bridge")
    event_id = f"late-{uuid.uuid4()}"
    try:
        wait_for(
            lambda: "kafka_unreachable" in bridge.log_since_spawn(),
            timeout=30,
            what="the bridge to report Kafka unreachable",
        )
        assert bridge.running
        with late:
            create_topics(late.bootstrap_servers)
            header = [("event-id", event_id.encode())]
            produce(late.bootstrap_servers, NORTH_TOPIC, SEED.encode(), headers=header)
            wait_for_mail(pipeline.mail, event_id, timeout=60)
            bridge.stop()  # before its Kafka, so it leaves the group rather than waiting
    finally:
        bridge.stop()
