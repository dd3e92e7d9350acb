"""Gateway, bridge and worker on a Redis that takes only TLS and a password.

trustme makes a CA and a certificate for 127.0.0.1; redis-server (the OS package, built with
TLS) listens only on its TLS port with ``requirepass``. The services reach it with
``REDIS_URL=rediss://…?ssl_ca_certs=CA`` and the password from ``REDIS_PASSWORD_FILE``.
Kafka is a broker of the test's own, so this bridge's group reads only this test's events.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
import redis

from northbridge_stack import services
from northbridge_stack.kafka import KafkaBroker
from northbridge_stack.ports import free_port
from northbridge_stack.processes import ManagedProcess

from . import secured
from .conftest import Pipeline, spawn
from .infrastructure import kafka_broker
from .support import wait_for, wait_for_mail

PASSWORD = "r3dis-" + uuid.uuid4().hex  # the test greps every log for it


@dataclass
class SecuredRedis:
    url: str  # without the password: that comes from the file
    password_file: Path
    port: int


@pytest.fixture
def secured_redis(tmp_path: Path) -> Iterator[SecuredRedis]:
    certs = secured.certificates(tmp_path / "tls")
    server, url = secured.redis(tmp_path / "redis", certs, PASSWORD)
    with server:
        yield SecuredRedis(url, secured.secret_file(tmp_path, "password", PASSWORD), server.port)


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[KafkaBroker]:
    with kafka_broker(tmp_path / "kafka") as broker:
        yield broker


def test_no_tls_or_no_password_is_refused(secured_redis: SecuredRedis) -> None:
    plain = redis.Redis(port=secured_redis.port, socket_timeout=5)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    anonymous = redis.Redis.from_url(secured_redis.url, socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    plain.close()
    anonymous.close()


def test_the_pipeline_runs_on_redis_over_tls_with_a_password(
    pipeline: Pipeline, secured_redis: SecuredRedis, own_kafka: KafkaBroker, tmp_path: Path
) -> None:
    port = free_port()
    env = pipeline.env | {
        "KAFKA_BOOTSTRAP_SERVERS": own_kafka.bootstrap_servers,
        "REDIS_URL": secured_redis.url,
        "REDIS_PASSWORD_FILE": str(secured_redis.password_file),
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_RATE_LIMIT_PER_CLIENT": "1000/minute",  # the limits' counters, over TLS too
        "BRIDGE_METRICS_PORT": "0",
        "WORKER_METRICS_PORT": "0",
        "BRIDGE_HEARTBEAT_FILE": str(tmp_path / "bridge.alive"),
    }
    started: list[ManagedProcess] = []
    env["WORKER_HEARTBEAT_FILE"] = str(tmp_path / "worker.alive")
    try:
        for service in (services.gateway(), services.bridge(), services.worker(98)):
            process = spawn(service, tmp_path, env)
            started.append(process)
            process.wait_until(partial(services.ready, service, env), timeout=60, what="healthy")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            key = f"tls-{uuid.uuid4().hex[:12]}"
            answer = http.post(
                "/v1/South",
                json={"name": "ada", "loc": "tls"},
                headers={"Idempotency-Key": key},
            )
            assert answer.status_code == 202, answer.text
            wait_for_mail(pipeline.mail, key, timeout=60)
            state = wait_for(
                lambda: (r := http.get(f"/v1/events/{key}").json()).get("state") == "sent" and r,
                timeout=30,
                what="the receipt to say sent",
            )
            assert state["id"] == key
    finally:
        for process in reversed(started):
            process.stop()
    for process in started:
        assert PASSWORD not in process.log_since_spawn()
