"""The local stack's processes under supervisord, the process supervisor from PyPI.

supervisord starts each program, starts it again whenever it exits (as compose's
``restart: unless-stopped``), rotates its log, and stops it with its whole process group.
This module writes supervisord's configuration into ``.stack/supervisor/``, starts it, and
asks it over its XML-RPC socket what runs; ``supervisorctl -c .stack/supervisor/supervisord.conf``
works on the same stack by hand.

Each program is a launcher script in ``bin/``: its exports, then ``exec`` of the command.
A script quotes any value the shell's way; supervisord's own ``environment=`` cannot carry
quotes (``BRIDGE_ROUTES`` is JSON). The script's digest is in the program's section, so a
changed setting makes ``supervisorctl update`` restart that program and no other.
"""

import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from supervisor import childutils

from northbridge_shared.health import process_running
from northbridge_stack.errors import StackError

POLL_S: Final = 0.1
START_TIMEOUT_S: Final = 15.0
LOG_BYTES: Final = "10MB"  # per program, and 3 older files kept: make logs stays readable
LOG_BACKUPS: Final = 3
# Settings a program may not inherit from supervisord: the launchers export what applies.
OUR_PREFIXES: Final = (
    *("KAFKA_", "REDIS_", "SMTP_", "MAIL_", "LOG_"),
    *("GATEWAY_", "BRIDGE_", "JOB_", "WORKER_", "RECEIPT_", "METRICS_", "DASHBOARD_"),
    "OTEL_",  # OpenTelemetry's own settings (traces are off without OTEL_EXPORTER_OTLP_ENDPOINT)
)
STOPPED: Final = frozenset({"STOPPED", "EXITED", "FATAL"})


@dataclass(frozen=True)
class Program:
    """One supervised process and how supervisord treats it."""

    name: str
    argv: Sequence[str]
    priority: int  # start order; supervisord stops in the reverse one
    stop_wait_s: int  # SIGTERM, then SIGKILL to the group after this
    env: Mapping[str, str] = field(default_factory=dict)  # exported by the launcher
    start_s: int = 3  # up this long counts as started; dying sooner backs off
    exit_codes: str = "0"


@dataclass(frozen=True)
class State:
    """What supervisord says about one program."""

    name: str
    state: str
    pid: int
    started: float  # epoch seconds, 0 if never
    restarts: int


class Supervisor:
    """supervisord for one stack, its files under ``home``, its programs' logs in ``logs``."""

    def __init__(self, home: Path, logs: Path) -> None:
        self.home = home
        self.logs = logs
        self.conf = home / "supervisord.conf"
        self.socket = home / "supervisor.sock"
        self.pid_file = home / "supervisord.pid"
        self.restarts_file = home / "restarts.json"
        self._programs = home / "programs"
        self._bin = home / "bin"

    @property
    def running(self) -> bool:
        """Whether this stack's supervisord answers on its socket."""
        if not self.socket.exists():
            return False
        try:
            return bool(self._rpc().supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error):
            return False

    def sync(self, tier: str, programs: Sequence[Program]) -> None:
        """Make ``programs`` the whole of ``tier`` in the configuration (files only)."""
        self._programs.mkdir(parents=True, exist_ok=True)
        self._bin.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        wanted = {f"{tier}-{p.name}.conf": p for p in programs}
        for stale in self._programs.glob(f"{tier}-*.conf"):
            if stale.name not in wanted:
                stale.unlink()
        for file_name, program in wanted.items():
            _write_if_changed(self._programs / file_name, self._section(program))
        self._write_main()

    def start(self) -> int:
        """Start supervisord (it detaches) unless it runs; its pid."""
        if not self.running:
            self.restarts_file.unlink(missing_ok=True)  # counts are per supervisord
            self._write_main()
            env = {k: v for k, v in os.environ.items() if not _ours(k) and k != "PYTHONWARNINGS"}
            done = subprocess.run(
                [_tool("supervisord"), "-c", str(self.conf)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=START_TIMEOUT_S,
            )
            if done.returncode != 0:
                raise StackError(f"supervisord did not start:\n{done.stdout}{done.stderr}")
            self._wait(lambda: self.running, START_TIMEOUT_S, "supervisord to answer")
        return int(self.pid_file.read_text())

    def update(self) -> None:
        """Apply the configuration: start added programs, restart changed, stop removed."""
        done = subprocess.run(
            [_tool("supervisorctl"), "-c", str(self.conf), "update"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if done.returncode != 0 or "ERROR" in done.stdout:
            raise StackError(f"supervisorctl update failed:\n{done.stdout}{done.stderr}")

    def states(self) -> dict[str, State]:
        """Every program supervisord knows (the listener aside), by name."""
        counts = _read_counts(self.restarts_file)
        infos: list[dict[str, Any]] = self._rpc().supervisor.getAllProcessInfo()
        return {
            info["name"]: State(
                info["name"],
                info["statename"],
                int(info["pid"]),
                float(info["start"]),
                counts.get(info["name"], 0),
            )
            for info in infos
            if info["group"] != LISTENER
        }

    def start_programs(self, names: Sequence[str]) -> None:
        """Start ``names`` that are stopped (without waiting: readiness is the caller's)."""
        states = self.states()
        for name in names:
            if states[name].state in STOPPED:
                with contextlib.suppress(xmlrpc.client.Fault):  # started meanwhile
                    self._rpc().supervisor.startProcess(name, False)

    def stop(self, names: Sequence[str], timeout: float) -> None:
        """Stop ``names`` together (supervisord itself would stop them one at a time)."""
        states = self.states()
        pids = [states[n].pid for n in names if n in states and states[n].pid]
        for name in names:
            if name in states and states[name].state not in STOPPED:
                with contextlib.suppress(xmlrpc.client.Fault):  # stopped meanwhile
                    self._rpc().supervisor.stopProcess(name, False)
        self._wait(
            lambda: all(s.state in STOPPED for n, s in self.states().items() if n in names),
            timeout + 5,
            f"{', '.join(names)} to stop",
        )
        for pid in pids:  # a child that ignored SIGTERM outlives its leader: not ours to keep
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def shutdown(self) -> None:
        """Stop supervisord (after its programs) and wait until it is gone."""
        pid = int(self.pid_file.read_text())
        with contextlib.suppress(OSError, xmlrpc.client.Error):
            # Stopped first, or shutdown waits seconds on the listener's event stream.
            self._rpc().supervisor.stopProcessGroup(LISTENER, True)
            self._rpc().supervisor.shutdown()
        self._wait(lambda: not process_running(pid), 60, "supervisord to exit")

    def _rpc(self) -> Any:
        return childutils.getRPCInterface({"SUPERVISOR_SERVER_URL": f"unix://{self.socket}"})

    def _section(self, program: Program) -> str:
        launcher = self._bin / program.name
        script = _launcher(program)
        _write_if_changed(launcher, script, mode=0o755)
        digest = hashlib.sha256(script.encode()).hexdigest()[:12]
        lines = [
            f"[program:{program.name}]",
            f"command={launcher}",
            f"environment=NORTHBRIDGE_LAUNCHER_DIGEST={digest}",  # a new script, a restart
            f"priority={program.priority}",
            "autorestart=true",
            f"startsecs={program.start_s}",
            "startretries=10",
            f"stopwaitsecs={program.stop_wait_s}",
            f"exitcodes={program.exit_codes}",
            "stopasgroup=true",
            "killasgroup=true",
            f"stdout_logfile={self.logs / program.name}.log",
            "redirect_stderr=true",
            f"stdout_logfile_maxbytes={LOG_BYTES}",
            f"stdout_logfile_backups={LOG_BACKUPS}",
        ]
        return "\n".join(lines) + "\n"

    def _write_main(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        listener = [sys.executable, "-m", "northbridge_stack.listener", str(self.restarts_file)]
        root = ["user=root"] if os.geteuid() == 0 else []  # else it logs a CRIT line each start
        text = "\n".join(
            [
                "; Written by northbridge-stack up; supervisorctl -c <this file> status",
                "[unix_http_server]",
                f"file={self.socket}",
                "chmod=0700",
                "[supervisord]",
                f"logfile={self.home / 'supervisord.log'}",
                "logfile_maxbytes=1MB",
                "logfile_backups=2",
                f"pidfile={self.pid_file}",
                f"directory={self.home}",
                f"childlogdir={self.logs}",
                *root,
                "[rpcinterface:supervisor]",
                "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
                "[supervisorctl]",
                f"serverurl=unix://{self.socket}",
                f"[eventlistener:{LISTENER}]",
                f"command={shlex.join(listener)}",
                "events=PROCESS_STATE_STARTING,PROCESS_STATE_FATAL",
                "priority=1",
                "autorestart=true",
                "stdout_logfile=NONE",  # its stdout is the event protocol
                f"stderr_logfile={self.logs / LISTENER}.log",
                "[include]",
                f"files={self._programs}/*.conf",
            ]
        )
        _write_if_changed(self.conf, text + "\n")

    def _wait(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(POLL_S)


LISTENER: Final = "restart-counter"


def our_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The northbridge settings in ``environ``: a launcher exports them to its program."""
    return {k: v for k, v in environ.items() if _ours(k)}


def _ours(name: str) -> bool:
    return name.startswith(OUR_PREFIXES)


def _launcher(program: Program) -> str:
    exports = [f"export {name}={shlex.quote(value)}" for name, value in sorted(program.env.items())]
    return (
        "\n".join(
            [
                "#!/bin/sh",
                f"# Written by northbridge-stack up: {program.name}, as supervisord runs it.",
                *exports,
                f"exec {shlex.join(program.argv)}",
            ]
        )
        + "\n"
    )


def _write_if_changed(path: Path, text: str, mode: int = 0o644) -> None:
    if path.exists() and path.read_text() == text:
        return
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    partial.chmod(mode)
    partial.replace(path)


def _read_counts(path: Path) -> dict[str, int]:
    try:
        counts: dict[str, int] = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return counts


def _tool(name: str) -> str:
    # The venv's own, beside the python running this (no activation needed).
    return str(Path(sys.executable).parent / name)
