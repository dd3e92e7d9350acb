"""Server processes of a test run: spawned with a log file, tracked by a pid file, stopped.

The integration tests start Kafka, Redis, the SMTP sink and the services with this; ``make
up`` has supervisord run them instead (supervisor.py). Every process gets its own session,
so a whole group (gunicorn's master and workers) can be killed at once when its leader will
not go.
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

from northbridge_shared.health import process_running
from northbridge_stack.errors import StackError

POLL_S = 0.1
KILL_WAIT_S = 5.0
TAIL_LINES = 40
ERROR_LINES = 8
# log4j levels, Java and Python exception lines, and structlog's JSON level.
_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b|^\S*(Exception|Error)\b|\"level\": \"error\"")
_PR_SET_DEATHSIG = 1  # from <linux/prctl.h>


class ManagedProcess:
    """One named server process with its log file and its pid file."""

    def __init__(self, name: str, *, log_file: Path, pid_file: Path) -> None:
        """Describe the process; nothing is started until :meth:`spawn`."""
        self.name = name
        self.log_file = log_file
        self.pid_file = pid_file
        self._child: subprocess.Popen[bytes] | None = None
        self._log_start = 0
        self._spawned_at = 0.0

    @property
    def pid(self) -> int | None:
        """The pid while the process runs, whether this object or an earlier run started it."""
        if self._child is not None:
            return self._child.pid if self._child.poll() is None else None
        recorded = _read_pid_file(self.pid_file)
        if recorded is None:
            return None
        pid, started = recorded
        return pid if _is_alive(pid, started) else None

    @property
    def running(self) -> bool:
        """Whether the process is alive (zombies count as gone)."""
        return self.pid is not None

    def spawn(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> None:
        """Start ``argv`` with stdout and stderr appended to the log file.

        The process is killed by the kernel if the starting thread dies without stopping it,
        so a killed pytest leaks no broker.
        """
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
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
        _write_pid_file(self.pid_file, self._child.pid)

    def wait_until(self, ready: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Poll ``ready`` until it holds; the seconds since spawn, or a StackError with the log.

        On a process this object did not spawn, the seconds are counted from this call.
        """
        started = self._spawned_at if self._child is not None else time.monotonic()
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running:
                raise self._failure(f"exited while {what}{self._exit_note()}")
            if time.monotonic() > deadline:
                raise self._failure(f"still not {what} after {timeout:.0f} s")
            time.sleep(POLL_S)
        return time.monotonic() - started

    def log_since_spawn(self) -> str:
        """What the process logged since :meth:`spawn` (earlier runs share the file)."""
        with self.log_file.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last lines of the log, framed for an error message."""
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log at {self.log_file})"
        last = "\n".join(text.splitlines()[-lines:])
        return f"--- last lines of {self.log_file} ---\n{last}\n---"

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL the process group."""
        stop_all([self], timeout=timeout)

    def _failure(self, problem: str) -> StackError:
        # A JVM's last lines are its shutdown, not its reason: show the first errors too.
        errors = [line for line in self.log_since_spawn().splitlines() if _ERROR.search(line)]
        first = "\n".join(errors[:ERROR_LINES])
        report = f"--- first errors logged ---\n{first}\n{self.tail()}" if errors else self.tail()
        return StackError(f"{self.name} {problem}\n{report}")

    def _exit_note(self) -> str:
        code = None if self._child is None else self._child.returncode
        return "" if code is None else f" (exit code {code})"

    def _forget(self) -> None:
        if self._child is not None:
            self._child.wait()
            self._child = None
        self.pid_file.unlink(missing_ok=True)


def stop_all(processes: Sequence[ManagedProcess], timeout: float = 30.0) -> None:
    """Stop several processes in parallel: all get SIGTERM, then share one deadline."""
    running = [(process, pid) for process in processes if (pid := process.pid) is not None]
    for _, pid in running:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process, pid in running:
        if not _wait_gone(process, deadline):
            _signal_group(pid, signal.SIGKILL)
            if not _wait_gone(process, time.monotonic() + KILL_WAIT_S):
                raise StackError(f"{process.name} (pid {pid}) survived SIGKILL")
        # A leader that exited may leave children behind (a gunicorn worker of a killed master).
        _signal_group(pid, signal.SIGKILL)
    for process in processes:
        if not process.running:
            process._forget()


def _wait_gone(process: ManagedProcess, deadline: float) -> bool:
    while process.running:
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


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


def _write_pid_file(path: Path, pid: int) -> None:
    # The start time guards against a recycled pid being taken for our server.
    path.write_text(f"{pid} {_start_time(pid)}\n")


def _read_pid_file(path: Path) -> tuple[int, int] | None:
    try:
        pid, started = path.read_text().split()
        return int(pid), int(started)
    except (FileNotFoundError, ValueError):
        return None


def _is_alive(pid: int, started: int) -> bool:
    if not Path("/proc/self/stat").exists():  # not Linux: trust the pid alone
        return process_running(pid)
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z" and stat[1] == started


def _start_time(pid: int) -> int:
    stat = _proc_stat(pid)
    return 0 if stat is None else stat[1]


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """State and start time (clock ticks since boot) from /proc; None where there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces; fields 3.. follow it.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])
