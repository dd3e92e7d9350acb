"""The bridge's liveness file: its mtime is when the consume loop last turned.

The loop calls :meth:`Heartbeat.beat` on every turn (many times a second when busy); only
one touch per ``every_s`` reaches the file system. The file holds the bridge's pid, so
``python -m northbridge_bridge.health``, which reads the mtime, also knows a bridge that
was killed (its file may still be fresh) from one that runs.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

# Far below any sensible BRIDGE_HEARTBEAT_MAX_AGE_S: a touch at most once a second costs nothing.
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
        self._failing = False

    def beat(self) -> None:
        """The loop turned: touch the file unless it was touched less than ``every_s`` ago."""
        now = self._clock()
        if self._last is not None and now - self._last < self._every_s:
            return
        first = self._last is None
        self._last = now
        try:
            if first:  # since start, or since clear(): say whose heartbeat this is
                self.path.write_text(f"{os.getpid()}\n")
            else:
                self.path.touch()
        except OSError as error:
            # The bridge goes on; the health check will say the file is missing or stale.
            if not self._failing:
                log.warning("heartbeat_write_failed", path=str(self.path), error=repr(error))
            self._failing = True
        else:
            if self._failing:
                log.info("heartbeat_write_recovered", path=str(self.path))
            self._failing = False

    def clear(self) -> None:
        """Remove the file: a bridge starting or stopped is not a live loop."""
        self._last = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("heartbeat_clear_failed", path=str(self.path), error=repr(error))
