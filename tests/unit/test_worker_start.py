"""An email-worker that cannot reach Redis at start says so in one line and exits 1."""

import json
import subprocess
import sys

from northbridge_stack.ports import free_port


def test_unreachable_redis_is_one_log_line_and_exit_1() -> None:
    env = {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "northbridge_email_worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [line["event"] for line in lines if line["level"] == "error"] == ["redis_unreachable"]
