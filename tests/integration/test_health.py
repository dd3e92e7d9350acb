"""The health-check commands compose runs, against the real bridge and workers of this host."""

import subprocess
import sys
from pathlib import Path

from northbridge_stack.services import Service

from .conftest import Pipeline
from .support import wait_for

BRIDGE_CHECK = "northbridge_bridge.health"
WORKER_CHECK = "northbridge_email_worker.health"


def check(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m module`` as a healthcheck runs it: exit code and one line on stderr."""
    return subprocess.run(
        [sys.executable, "-m", module],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def healthy(module: str, env: dict[str, str]) -> bool:
    return check(module, env).returncode == 0


def test_running_bridge_and_workers_are_healthy(pipeline: Pipeline) -> None:
    wait_for(lambda: healthy(BRIDGE_CHECK, pipeline.env), timeout=30, what="a fresh heartbeat")
    for name in ("email-worker-1", "email-worker-2"):
        done = check(WORKER_CHECK, pipeline.envs[name])
        assert (done.returncode, done.stderr) == (0, "")


def test_worker_heartbeat_follows_the_process(pipeline: Pipeline) -> None:
    """A worker beats its file from its start, and removes it when it stops."""
    worker = Service("email-worker-health", "northbridge_email_worker")
    started = pipeline.start(worker)  # waits until its health check passes
    env = pipeline.envs[worker.name]
    started.stop()  # SIGTERM: rq's warm shutdown
    done = check(WORKER_CHECK, env)
    assert done.returncode == 1
    assert "is missing" in done.stderr


def test_bridge_heartbeat_follows_the_process(pipeline: Pipeline, tmp_path: Path) -> None:
    """A bridge beats its file once it consumes, and removes it when it stops."""
    env = {**pipeline.env, "BRIDGE_HEARTBEAT_FILE": str(tmp_path / "bridge-2.alive")}
    bridge = Service("bridge-health", "northbridge_bridge")
    second = pipeline.start(bridge, {"BRIDGE_HEARTBEAT_FILE": env["BRIDGE_HEARTBEAT_FILE"]})
    try:
        wait_for(lambda: healthy(BRIDGE_CHECK, env), timeout=30, what="the second bridge's beat")
    finally:
        second.stop()  # SIGTERM: finish the batch, commit, leave the group
    done = check(BRIDGE_CHECK, env)
    assert done.returncode == 1
    assert "is missing" in done.stderr
