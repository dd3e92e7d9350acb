"""`make chaos`, smaller: every part SIGKILLed under load, and nothing but the stack heals it."""

import os
import subprocess
import sys

import pytest

from northbridge_stack.supervisor import OUR_PREFIXES

# Quicker rhythms than the defaults, so killed jobs run again within seconds, not 105 s.
QUICK = {
    "JOB_TIMEOUT_S": "10",
    "JOB_RETRY_INTERVALS_S": "[1, 2, 5]",
    "WORKER_SEND_LEASE_S": "12",
    "WORKER_TTL_S": "20",
    "WORKER_MAINTENANCE_INTERVAL_S": "2",
    "WORKER_ABANDONED_AFTER_TIMEOUT_S": "5",
}


@pytest.mark.timeout(420)
def test_every_part_killed_under_load_loses_and_doubles_nothing() -> None:
    """Bridge, workers, a gateway worker, Redis, Kafka killed in turn: every 202 mailed once."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES)} | QUICK
    argv = ["--seconds", "36", "--rate", "20", "--kill-every", "5", "--drain", "120"]
    done = subprocess.run(
        [sys.executable, "-m", "northbridge_stack", "chaos", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    ledger = done.stdout[done.stdout.find("chaos ledger") :]
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "never (lost)       0" in ledger
    assert "doubled mails        0" in ledger
    assert "services left down   none" in ledger
    for victim in (
        "bridge",
        "email-worker-1",
        "gateway-worker",
        "redis",
        "email-worker-2",
        "kafka",
    ):
        assert f"{victim} x" in ledger
