"""Server processes a test run starts itself: spawned with a log file, waited for, stopped.

The integration tests start Kafka, Redis, Mailpit and the services with this; ``make up``
has supervisord run the same :meth:`Server.command` instead (supervisor.py), so nothing here
outlives the process that started it and no pid file is kept. Every process gets its own
session, so a whole group (gunicorn's master and workers) can be killed at once.
"""

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from northbridge_stack.errors import StackError

POLL_S = 0.1
KILL_WAIT_S = 5.0
TAIL_LINES = 40
ERROR_LINES = 8
# log4j levels, Java and Python exception lines, and structlog's JSON level.
_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b|^\S*(Exception|Error)\b|\"level\": \"error\"")
_PR_SET_DEATHSIG = 1  # from <linux/prctl.h>


class ManagedProcess:
    """One named server process with its log file."""

    def __init__(self, name: str, *, log_file: Path) -> None:
        """Describe the process; nothing is started until :meth:`spawn`."""
        self.name = name
        self.log_file = log_file
        self._child: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        self._spawned_at = 0.0

    @property
    def pid(self) -> int | None:
        """The pid while the process runs (a zombie counts as gone)."""
        if self._child is None or self._child.poll() is not None:
            return None
        return self._child.pid

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.pid is not None

    def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        """Start ``argv`` with stdout and stderr appended to the log file.

        The process is killed by the kernel if the starting thread dies without stopping it,
        so a killed pytest leaks no broker.
        """
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._log_start = log.tell()
            self._spawned_at = time.monotonic()
            self._child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                start_new_session=True,
                preexec_fn=_death_signal_setter(),  # noqa: PLW1509 - only prctl runs in it
            )

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Poll ``ready`` until it holds; the seconds since spawn, or a StackError with the log."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running:
                code = None if self._child is None else self._child.returncode
                raise self._failure(f"exited while {what} (exit code {code})")
            if time.monotonic() > deadline:
                raise self._failure(f"still not {what} after {timeout:.0f} s")
            time.sleep(POLL_S)
        return time.monotonic() - self._spawned_at

    def log_since_spawn(self) -> str:
        """What the process logged since :meth:`spawn` (earlier runs share the file)."""
        with self.log_file.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL the process group."""
        child, self._child = self._child, None
        if child is None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child.pid)
            try:
                child.wait(KILL_WAIT_S)
            except subprocess.TimeoutExpired:
                raise StackError(f"{self.name} (pid {child.pid}) survived SIGKILL") from None
        # A leader that exited may leave children behind (a gunicorn worker of a killed master).
        _kill_group(child.pid)

    def _failure(self, problem: str) -> StackError:
        # A JVM's last lines are its shutdown, not its reason: show the first errors too.
        lines = self.log_since_spawn().splitlines()
        errors = "\n".join([line for line in lines if _ERROR.search(line)][:ERROR_LINES])
        last = "\n".join(lines[-TAIL_LINES:])
        first = f"--- first errors logged ---\n{errors}\n" if errors else ""
        return StackError(
            f"{self.name} {problem}\n{first}--- last lines of {self.log_file} ---\n{last}\n---"
        )


class Server:
    """A server process the stack owns; subclasses say how to launch it and when it serves.

    Started from a test it is attached (the kernel kills it with the test process); ``make up``
    has supervisord run the same :meth:`command` instead (see ``stack.py``).
    """

    #: What :meth:`start` waits for, for the error message when it does not happen.
    ready_what = "serving"
    start_timeout = 30.0
    stop_timeout = 30.0

    def __init__(self, name: str, log_file: Path) -> None:
        self.process = ManagedProcess(name, log_file=log_file)

    @property
    def running(self) -> bool:
        """Whether this object's process is alive."""
        return self.process.running

    def start(self, *, timeout: float | None = None) -> None:
        """Prepare, spawn and wait until it serves; does nothing if it already runs."""
        if self.running:
            return
        self.spawn()
        self.wait_serving(timeout=timeout)

    def spawn(self) -> None:
        """Prepare and spawn, without waiting (a cluster's nodes serve only together)."""
        argv, env = self.command()
        self.process.spawn(argv, env=None if env is None else os.environ | dict(env))

    def wait_serving(self, *, timeout: float | None = None) -> None:
        """Wait until the spawned process serves; a StackError with its log if it does not."""
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


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _death_signal_setter() -> Callable[[], None] | None:
    # PR_SET_DEATHSIG fires when the *thread* that forked exits, so it is only safe from the
    # main thread; from another thread the server would die with that thread.
    if (
        not sys.platform.startswith("linux")
        or threading.current_thread() is not threading.main_thread()
    ):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_death_signal() -> None:
        libc.prctl(_PR_SET_DEATHSIG, signal.SIGKILL)

    return set_death_signal
