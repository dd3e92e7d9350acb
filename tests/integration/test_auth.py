"""GATEWAY_AUTH=api-key: a gateway of its own; keys made and revoked with `northbridge keys`."""

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from northbridge_shared.contracts import CLIENT_HEADER, EVENT_ID_HEADER, NORTH_TOPIC
from northbridge_stack import services
from northbridge_stack.ports import free_port
from northbridge_stack.processes import ManagedProcess

from .conftest import Pipeline, gateway_ready, spawn
from .support import end_offsets, read_topic, wait_for

SEED = {"name": "ada", "loc": "london"}


@dataclass
class Guarded:
    """A gateway that wants API keys, and how to make them against its Redis."""

    http: httpx.Client
    env: dict[str, str]
    process: ManagedProcess

    def northbridge(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The operator's command, as a user runs it, on this gateway's Redis."""
        return subprocess.run(
            [sys.executable, "-m", "northbridge_ops", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    def new_key(self, client: str, *endpoints: str) -> str:
        made = self.northbridge("keys", "create", client, *(f"--endpoint={e}" for e in endpoints))
        return made.stdout.strip()


@pytest.fixture
def guarded(pipeline: Pipeline, tmp_path: Path) -> Iterator[Guarded]:
    port = free_port()
    # No remembered look-ups: a revoked key is refused at once, so the test need not wait.
    env = pipeline.env | {
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_AUTH": "api-key",
        "GATEWAY_AUTH_CACHE_S": "0",
        "LOG_LEVEL": "DEBUG",  # a line per accepted event, to show the client in it
    }
    process = spawn(services.gateway(), tmp_path, env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            process.wait_until(lambda: gateway_ready(http), timeout=60, what="ready")
            yield Guarded(http, env, process)
    finally:
        process.stop()


def problem_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    detail: str = response.json()["detail"]
    return detail


def test_no_key_or_an_unknown_one_gets_401_and_publishes_nothing(guarded: Guarded) -> None:
    before = end_offsets(guarded.env["KAFKA_BOOTSTRAP_SERVERS"])
    missing = guarded.http.post("/v1/North", json=SEED)
    assert "Authorization: Bearer" in problem_of(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="northbridge"'
    wrong = guarded.http.post("/v1/North", json=SEED, headers={"Authorization": "Bearer nbk_no"})
    assert "not known" in problem_of(wrong, 401)
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    basic = guarded.http.post("/v1/North", json=SEED, headers={"Authorization": "Basic YTpi"})
    problem_of(basic, 401)
    receipt = guarded.http.get("/v1/events/anything")
    problem_of(receipt, 401)
    assert guarded.http.get("/healthz").status_code == 200  # probes need no key
    assert end_offsets(guarded.env["KAFKA_BOOTSTRAP_SERVERS"]) == before


def test_a_key_posts_and_its_client_travels_with_the_event(guarded: Guarded) -> None:
    token = guarded.new_key("shop-7")
    bearer = {"Authorization": f"Bearer {token}"}
    answer = guarded.http.post("/v1/North", json=SEED, headers=bearer)
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["id"]
    records = read_topic(guarded.env["KAFKA_BOOTSTRAP_SERVERS"], NORTH_TOPIC)
    (record,) = [r for r in records if (EVENT_ID_HEADER, event_id.encode()) in r.headers]
    assert (CLIENT_HEADER, b"shop-7") in record.headers

    def accepted_by() -> str | None:
        receipt = guarded.http.get(f"/v1/events/{event_id}", headers=bearer)
        hops = receipt.json().get("hops", []) if receipt.status_code == 200 else []
        return next((h.get("client") for h in hops if h["hop"] == "accepted"), None)

    assert wait_for(accepted_by, timeout=30, what="the accepted receipt") == "shop-7"
    lines = [json.loads(line) for line in guarded.process.log_since_spawn().splitlines()]
    accepted = [line for line in lines if line.get("event_id") == event_id]
    assert accepted
    assert all(line["client"] == "shop-7" for line in accepted)
    assert all(token not in json.dumps(line) for line in lines)


def test_a_key_for_one_endpoint_gets_403_on_the_other(guarded: Guarded) -> None:
    token = guarded.new_key("north-only", "/v1/North")
    bearer = {"Authorization": f"Bearer {token}"}
    assert guarded.http.post("/v1/North", json=SEED, headers=bearer).status_code == 202
    refused = guarded.http.post("/v1/South", json=SEED, headers=bearer)
    assert "may not post to /v1/South" in problem_of(refused, 403)


def test_a_revoked_key_gets_401(guarded: Guarded) -> None:
    token = guarded.new_key("leaver")
    bearer = {"Authorization": f"Bearer {token}"}
    assert guarded.http.post("/v1/South", json=SEED, headers=bearer).status_code == 202
    listed = guarded.northbridge("keys", "list", "--json").stdout
    assert token not in listed
    (key_id,) = [key["id"] for key in json.loads(listed) if key["client"] == "leaver"]
    assert "leaver" in guarded.northbridge("keys", "revoke", key_id).stdout
    refused = guarded.http.post("/v1/South", json=SEED, headers=bearer)
    problem_of(refused, 401)
