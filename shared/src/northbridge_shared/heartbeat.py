"""A liveness file: a service's loop touches it as it turns, its health check reads its age.

The bridge's consume loop and the email-worker's rq loop each beat one, so both consumers
are alive by one rule: the loop turned within a max age, and the process whose pid the file
holds still runs (one killed a second ago leaves a fresh file). It needs neither Kafka nor
Redis, and costs a ``utime`` at most once a second.

A loop that is about to block for longer than its max age on purpose (a worker starting a
job, which rq stops at its timeout) dates its beat forward by that long: its age stays
negative until then.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from northbridge_shared.health import process_running

log = structlog.get_logger(__name__)

# Far below any sensible max age: a touch at most once a second costs nothing.
EVERY_S = 1.0


class Heartbeat:
    """Touches ``path`` at most once per ``every_s`` (on ``clock``, monotonic seconds)."""

    def __init__(
        self, path: Path, every_s: float = EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self._every_s = every_s
        self._clock = clock
        self._last: float | None = None
        self._ahead = False
        self._failing = False

    def beat(self, ahead_s: float = 0.0) -> None:
        """The loop turned: touch the file unless it was touched less than ``every_s`` ago.

        ``ahead_s`` dates the beat forward: the loop's next turn may be that much later.
        Such a beat is always written, and so is the next one, which takes it back.
        """
        now = self._clock()
        recent = self._last is not None and now - self._last < self._every_s
        if recent and not ahead_s and not self._ahead:
            return
        first = self._last is None
        self._last, self._ahead = now, bool(ahead_s)
        try:
            if first:  # since start, or since clear(): say whose heartbeat this is
                self.path.write_text(f"{os.getpid()}\n")
            when = time.time() + ahead_s
            os.utime(self.path, (when, when))
        except OSError as error:
            # The service goes on; the health check will say the file is missing or stale.
            if not self._failing:
                log.warning("heartbeat_write_failed", path=str(self.path), error=repr(error))
            self._failing = True
        else:
            if self._failing:
                log.info("heartbeat_write_recovered", path=str(self.path))
            self._failing = False

    def clear(self) -> None:
        """Remove the file: a service starting or stopped is not a live loop."""
        self._last = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("heartbeat_clear_failed", path=str(self.path), error=repr(error))


def problem(
    path: Path, max_age_s: float, service: str, loop: str, now: float | None = None
) -> str | None:
    """Why the ``service`` whose ``loop`` beats ``path`` is not alive, or None if it is."""
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return f"{service} heartbeat {path} is missing: {loop} has not turned (yet)"
    except OSError as error:
        return f"{service} heartbeat {path} cannot be read: {error}"
    age = (time.time() if now is None else now) - touched
    if age > max_age_s:
        return (
            f"{service} heartbeat {path} is {age:.0f} s old"
            f" (limit {max_age_s:g} s): {loop} is stuck or gone"
        )
    pid = _pid(path)
    if pid is not None and not process_running(pid):
        return f"{service} heartbeat {path} is fresh, but its {service} (pid {pid}) is gone"
    return None


def _pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # an empty file: touched by an older version
