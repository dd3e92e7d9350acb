"""What Kafka, Redis and the SMTP sink have in common: spawn, wait until serving, stop."""

from collections.abc import Mapping
from types import TracebackType
from typing import Self

from northbridge_stack.processes import ManagedProcess


class Server:
    """A server process the stack owns; subclasses say how to launch it and when it serves.

    Started from a test it is attached (the kernel kills it with the test process); started
    by ``make up`` it is detached and outlives the command.
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

    def start(self, *, detached: bool = False, timeout: float | None = None) -> None:
        """Prepare, spawn and wait until it serves; does nothing if it already runs."""
        if self.running:
            return
        argv, env = self._command()
        self.process.spawn(argv, env=env, detached=detached)
        self.process.wait_until(
            self._serving, timeout=timeout or self.start_timeout, what=self.ready_what
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

    def _command(self) -> tuple[list[str], Mapping[str, str] | None]:
        """Write what the server needs and return its argv and environment (None: ours)."""
        raise NotImplementedError

    def _serving(self) -> bool:
        """Whether the server answers clients now."""
        raise NotImplementedError
