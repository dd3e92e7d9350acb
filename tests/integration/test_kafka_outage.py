"""With Kafka gone the gateway answers 503 quickly and honestly, and recovers on its own."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from northbridge_stack import services
from northbridge_stack.kafka import KafkaBroker
from northbridge_stack.ports import free_port

from .conftest import Pipeline, kafka_broker, spawn, status
from .support import wait_for

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
