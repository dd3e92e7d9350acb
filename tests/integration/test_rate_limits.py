"""Rate limits: one budget per client and per recipient, across every gunicorn worker process."""

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline, gateway_ready, spawn
from .support import end_offsets

PER_CLIENT = 6
PER_RECIPIENT = 2
WORKERS = 3


@pytest.fixture
def limited(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    """A gateway of its own with three worker processes and both limits; its URL."""
    port = free_port()
    env = pipeline.env | {
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": str(WORKERS),
        # Per hour: the window cannot roll over while the test runs.
        "GATEWAY_RATE_LIMIT_PER_CLIENT": f"{PER_CLIENT}/hour",
        "GATEWAY_RATE_LIMIT_PER_RECIPIENT": f"{PER_RECIPIENT}/hour",
    }
    pipeline.redis.delete(*pipeline.redis.keys("northbridge:limits*") or ["-"])
    process = spawn(services.gateway(), tmp_path, env)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            process.wait_until(lambda: gateway_ready(http), timeout=60, what="ready")
        yield url
    finally:
        process.stop()


def post_alone(url: str, path: str, body: dict[str, str]) -> httpx.Response:
    """One request on a connection of its own, so the kernel may hand it to any worker."""
    with httpx.Client(base_url=url, timeout=30) as http:
        return http.post(path, json=body, headers={"Connection": "close"})


def test_a_client_gets_one_budget_whichever_worker_answers(
    pipeline: Pipeline, limited: str
) -> None:
    run = uuid.uuid4().hex[:8]
    before = sum(end_offsets(pipeline.kafka.bootstrap_servers).values())
    answers = [
        post_alone(
            limited,
            "/v1/South",
            {"name": f"rl-{run}-{n}", "loc": "x", "recipient": f"r{n}@example.com"},
        )
        for n in range(PER_CLIENT + 4)
    ]
    assert Counter(a.status_code for a in answers) == {202: PER_CLIENT, 429: 4}
    assert [a.status_code for a in answers[:PER_CLIENT]] == [202] * PER_CLIENT
    refused = answers[-1]
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-limit"] == str(PER_CLIENT)
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-policy"] == f"{PER_CLIENT};w=3600"
    assert "over its limit" in refused.json()["detail"]
    after = sum(end_offsets(pipeline.kafka.bootstrap_servers).values())
    assert after - before == PER_CLIENT  # the refused ones published nothing


def test_one_recipient_cannot_be_flooded(limited: str) -> None:
    inbox = f"inbox-{uuid.uuid4().hex[:8]}@example.com"
    same = [
        post_alone(limited, "/v1/South", {"name": "flood", "loc": "x", "recipient": inbox})
        for _ in range(PER_RECIPIENT + 1)
    ]
    assert [a.status_code for a in same] == [202] * PER_RECIPIENT + [429]
    assert f"recipient {inbox} is over its limit" in same[-1].json()["detail"]
    other = post_alone(
        limited, "/v1/South", {"name": "fine", "loc": "x", "recipient": "o@example.com"}
    )
    assert other.status_code == 202
