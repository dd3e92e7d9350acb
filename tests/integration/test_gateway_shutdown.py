"""SIGTERM during a burst: in-flight requests finish, and every 202 is in Kafka.

A request whose body was still arriving when its worker began to stop is answered 503 with
Retry-After (aiohttp drops the rest of the body; see ``intake.closing_signal``): a refusal
the client retries, never a 408 that blames it, and never a false 202.
"""

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from northbridge_shared.receipts import receipt_key
from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline, gateway_ready, spawn
from .support import wait_for

REQUESTS = 200


def test_sigterm_mid_burst_loses_no_accepted_event(pipeline: Pipeline, tmp_path: Path) -> None:
    """Requests racing a SIGTERM get 202 (in Kafka), 503 to retry, or no answer at all."""
    port = free_port()
    env = {**pipeline.env, "GATEWAY_PORT": str(port), "GATEWAY_WORKERS": "2"}
    gateway = spawn(services.gateway(), tmp_path, env)
    accepted: list[str] = []
    first = threading.Event()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            gateway.wait_until(lambda: gateway_ready(http), timeout=60, what="ready")

            def post(n: int) -> None:
                try:
                    response = http.post("/v1/North", json={"name": f"drain-{n}", "loc": "x"})
                except httpx.TransportError:
                    return  # refused or cut before an answer: the client knows to retry
                if response.status_code == 503:
                    assert "Retry-After" in response.headers, response.text
                    return  # refused while the worker stopped: nothing was published
                assert response.status_code == 202, response.text
                accepted.append(response.json()["id"])
                first.set()

            with ThreadPoolExecutor(max_workers=16) as pool:
                futures = [pool.submit(post, n) for n in range(REQUESTS)]
                assert first.wait(timeout=30)
                pid = gateway.pid
                assert pid is not None
                os.kill(pid, signal.SIGTERM)  # the gunicorn master: it stops its workers gracefully
                for future in futures:
                    future.result()
        wait_for(lambda: not gateway.running, timeout=60, what="the gateway to exit")
    finally:
        gateway.stop()  # a no-op once it exited; a failed assertion must not leave it running
    assert accepted

    def read_from_kafka(event_id: str) -> bool:
        # The bridge writes "enqueued" only for a record it read from Kafka. (Reading the
        # topic here would trip on the undecodable records other tests write on purpose.)
        return b"enqueued" in pipeline.redis.hkeys(receipt_key(event_id))

    wait_for(
        lambda: all(read_from_kafka(event_id) for event_id in accepted),
        timeout=60,
        what=f"all {len(accepted)} accepted events read from Kafka by the bridge",
    )
