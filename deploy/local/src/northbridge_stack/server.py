"""What Kafka, Redis and the SMTP sink have in common: spawn, wait until serving, stop."""

import os
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from northbridge_stack.processes import ManagedProcess


class Server:
    """A server process the stack owns; subclasses say how to launch it and when it serves.

    Started from a test it is attached (the kernel kills it with the test process); ``make up``
    has supervisord run the same :meth:`command` instead (see ``stack.py``).
    """

    #: What :meth:`start` waits for, for the error message when it does not happen.
    ready_what = "serving"
    start_timeout = 30.0
    stop_timeout = 30.0

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process

    @property
    def running(self) -> bool:
        """Whether the process is alive (started by this object or an earlier run)."""
        return self.process.running

    def start(self, *, timeout: float | None = None) -> None:
        """Prepare, spawn and wait until it serves; does nothing if it already runs."""
        if self.running:
            return
        argv, env = self.command()
        self.process.spawn(argv, env=None if env is None else os.environ | dict(env))
        self.process.wait_until(
            self.serving, timeout=timeout or self.start_timeout, what=self.ready_what
        )

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        self.process.stop(timeout=timeout or self.stop_timeout)

    def __enter__(self) -> Self:
        """Start attached, for ``with Server(...) as server:``."""
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop, whatever happened inside the block."""
        self.stop()

    def command(self) -> tuple[list[str], Mapping[str, str] | None]:
        """Write what the server needs; its argv and its environment's additions (or None)."""
        raise NotImplementedError

    def serving(self) -> bool:
        """Whether the server answers clients now (its readiness, wherever it runs)."""
        raise NotImplementedError
