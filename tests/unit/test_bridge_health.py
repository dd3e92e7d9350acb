"""The bridge's liveness: the loop beats a file, cheaply; the health check reads its age."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from northbridge_bridge import health
from northbridge_bridge.consume import Bridge
from northbridge_bridge.settings import BridgeHeartbeat, BridgeSettings
from northbridge_shared.heartbeat import Heartbeat
from northbridge_shared.settings import load


@pytest.fixture
def beat_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bridge.alive"
    monkeypatch.setenv("BRIDGE_HEARTBEAT_FILE", str(path))
    return path


def age(path: Path, seconds: float) -> None:
    """Set the file's mtime ``seconds`` into the past."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def check(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the command's main; its exit code and stderr."""
    try:
        health.main()
    except SystemExit as stopped:
        code = stopped.code
        assert isinstance(code, int)
        return code, capsys.readouterr().err
    return 0, capsys.readouterr().err


def test_fresh_heartbeat_is_healthy(beat_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    beat_file.touch()
    age(beat_file, 59)
    assert check(capsys) == (0, "")


def test_stale_heartbeat_is_unhealthy(beat_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    beat_file.touch()
    age(beat_file, 61)
    code, err = check(capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert f"{beat_file} is 61 s old (limit 60 s)" in err


def test_fresh_heartbeat_of_a_dead_bridge_is_unhealthy(
    beat_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bridge killed a second ago left a fresh file; its pid says it is gone."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    beat_file.write_text(f"{dead.pid}\n")
    code, err = check(capsys)
    assert code == 1
    assert f"its bridge (pid {dead.pid}) is gone" in err


def test_heartbeat_names_the_bridge_that_beats(tmp_path: Path) -> None:
    """The first beat writes this process's pid, the health check's way to know it lives."""
    path = tmp_path / "alive"
    Heartbeat(path).beat()
    assert path.read_text().strip() == str(os.getpid())


def test_max_age_is_a_setting(
    beat_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_HEARTBEAT_MAX_AGE_S", "200")
    beat_file.touch()
    age(beat_file, 150)
    assert check(capsys) == (0, "")


def test_missing_heartbeat_is_unhealthy(
    beat_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = check(capsys)
    assert code == 1
    assert err == (
        f"bridge heartbeat {beat_file} is missing: the consume loop has not turned (yet)\n"
    )


def test_check_reads_only_its_own_settings(
    beat_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad bridge setting stops the bridge (so its heartbeat ages), not the check itself."""
    monkeypatch.setenv("BRIDGE_BATCH_SIZE", "0")
    beat_file.touch()
    assert check(capsys) == (0, "")


def test_bad_check_setting_exits_1_not_2(
    beat_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker reserves exit code 2; a health check answers 0 or 1."""
    monkeypatch.setenv("BRIDGE_HEARTBEAT_MAX_AGE_S", "0")
    code, err = check(capsys)
    assert code == 1
    assert err.startswith("invalid setting BRIDGE_HEARTBEAT_MAX_AGE_S: ")


def test_default_file_is_in_the_temp_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Writable by a user without a HOME: TMPDIR, else /tmp."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() caches its answer
    assert BridgeHeartbeat().heartbeat_file == tmp_path / "northbridge-bridge.alive"


def test_poll_timeout_must_stay_well_under_the_max_age(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An idle bridge turns once per poll; a poll near the max age would read as dead."""
    monkeypatch.setenv("BRIDGE_POLL_TIMEOUT_MS", "30000")
    with pytest.raises(SystemExit):
        load(BridgeSettings)
    assert capsys.readouterr().err.startswith("invalid setting BRIDGE_POLL_TIMEOUT_MS: ")
    monkeypatch.setenv("BRIDGE_HEARTBEAT_MAX_AGE_S", "61")
    assert load(BridgeSettings).poll_timeout_ms == 30000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def mtime(path: Path) -> float:
    return path.stat().st_mtime


def test_heartbeat_touches_at_most_once_per_interval(tmp_path: Path) -> None:
    path, clock = tmp_path / "alive", Clock()
    heartbeat = Heartbeat(path, every_s=1.0, clock=clock)
    heartbeat.beat()
    assert path.exists()
    age(path, 100)
    stale = mtime(path)
    clock.now += 0.9
    heartbeat.beat()
    assert mtime(path) == stale  # throttled: no write
    clock.now += 0.1
    heartbeat.beat()
    assert time.time() - mtime(path) < 10  # a second on: touched


def test_clear_removes_the_file_and_the_next_beat_writes_at_once(tmp_path: Path) -> None:
    path, clock = tmp_path / "alive", Clock()
    heartbeat = Heartbeat(path, clock=clock)
    heartbeat.beat()
    heartbeat.clear()
    assert not path.exists()
    heartbeat.clear()  # already gone: fine
    heartbeat.beat()
    assert path.exists()


def test_unwritable_heartbeat_does_not_stop_the_bridge(tmp_path: Path) -> None:
    heartbeat = Heartbeat(tmp_path / "no-such-dir" / "alive")
    heartbeat.beat()  # logged, not raised
    assert health.problem(BridgeHeartbeat(heartbeat_file=heartbeat.path)) is not None


class CountingHeartbeat(Heartbeat):
    def __init__(self) -> None:
        super().__init__(Path("unused"))
        self.beats = 0

    def beat(self, ahead_s: float = 0.0) -> None:
        self.beats += 1


class IdleConsumer:
    """Empty polls; asks the bridge to stop after ``polls`` of them."""

    def __init__(self, stopping: asyncio.Event, polls: int) -> None:
        self._stopping, self._left = stopping, polls

    async def getmany(self, **_: Any) -> dict[Any, Any]:
        self._left -= 1
        if self._left == 0:
            self._stopping.set()
        return {}

    def assignment(self) -> set[Any]:
        return set()  # owns no partition: there is no lag to measure


def test_every_empty_poll_beats() -> None:
    async def scenario() -> int:
        stopping, heartbeat = asyncio.Event(), CountingHeartbeat()
        unused: Any = None
        consumer = IdleConsumer(stopping, polls=3)
        await Bridge(consumer, unused, unused, BridgeSettings(), heartbeat).run(stopping)
        return heartbeat.beats

    assert asyncio.run(scenario()) == 3


def test_retrying_a_failed_step_beats() -> None:
    """Redis down: each attempt and the backoff between them count as the loop turning."""

    async def scenario() -> tuple[str, int]:
        heartbeat, failures = CountingHeartbeat(), [RedisConnectionError("down")]
        unused: Any = None
        bridge = Bridge(unused, unused, unused, BridgeSettings(), heartbeat)

        async def step() -> str:
            if failures:
                raise failures.pop()
            return "done"

        result = await bridge._until_done(step, asyncio.Event())
        return result, heartbeat.beats

    # the failed attempt, the 0.1 s backoff, the attempt that worked
    assert asyncio.run(scenario()) == ("done", 3)
