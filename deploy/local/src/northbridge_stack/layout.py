"""Where the local stack keeps its state, and which ports it uses.

Everything lives under one ignored folder, ``.stack/`` at the repository root: Kafka's and
Redis's data, Mailpit's database, every process's log, supervisord's files, and the Kafka tool
wrappers. Deleting the folder (with the stack down) resets the stack.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from northbridge_stack.errors import StackError
from northbridge_stack.kafka import KafkaBroker
from northbridge_stack.mailpit import DEFAULT_MAX_MESSAGES, Mailpit
from northbridge_stack.redis_server import RedisServer
from northbridge_stack.supervisor import Supervisor

MAX_PORT = 65535
# Variable, default: one place for the ports, so a clash is fixed by setting a variable.
PORT_VARIABLES = {
    "STACK_KAFKA_PORT": 9092,
    "STACK_KAFKA_CONTROLLER_PORT": 9093,
    "STACK_REDIS_PORT": 6379,
    "STACK_SMTP_PORT": 1025,  # Mailpit's SMTP
    "STACK_MAILPIT_PORT": 8025,  # Mailpit's web UI and API
    "GATEWAY_PORT": 9000,  # read by the gateway itself too
    "BRIDGE_METRICS_PORT": 9101,  # read by the bridge itself too
    "WORKER_METRICS_PORT": 9102,  # email-worker-N serves /metrics on this port + N - 1
    "DASHBOARD_PORT": 9180,  # read by the dashboard itself too
}


@dataclass(frozen=True)
class StackLayout:
    """The stack's folder and ports."""

    root: Path
    kafka_port: int
    controller_port: int
    redis_port: int
    smtp_port: int
    mailpit_port: int
    gateway_port: int
    bridge_metrics_port: int
    worker_metrics_port: int  # the first worker's
    dashboard_port: int
    mailpit_max_messages: int = DEFAULT_MAX_MESSAGES  # MAILPIT_MAX_MESSAGES, as in compose

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "StackLayout":
        """``STACK_HOME`` (default ``<repo>/.stack``) and the ports from the environment."""
        root = Path(environ.get("STACK_HOME") or repo_root() / ".stack").resolve()
        ports = [_number(environ, name, default) for name, default in PORT_VARIABLES.items()]
        limit = _number(environ, "MAILPIT_MAX_MESSAGES", DEFAULT_MAX_MESSAGES, port=False)
        return replace(cls(root, *ports), mailpit_max_messages=limit)

    @property
    def logs(self) -> Path:
        """Every process's log file: ``<name>.log``."""
        return self.root / "logs"

    @property
    def bin(self) -> Path:
        """Wrapper scripts for Kafka's command-line tools."""
        return self.root / "bin"

    def log(self, name: str) -> Path:
        """The log file of the process called ``name``."""
        return self.logs / f"{name}.log"

    def supervisor(self) -> Supervisor:
        """The stack's supervisord: configuration in ``supervisor/``, program logs in ``logs/``."""
        return Supervisor(self.root / "supervisor", self.logs)

    def kafka(self) -> KafkaBroker:
        """The stack's broker: its config, data and readiness (supervisord runs it)."""
        return KafkaBroker(self.root / "kafka", self.kafka_port, self.controller_port)

    def redis(self) -> RedisServer:
        """The stack's Redis: its config, data and readiness (supervisord runs it)."""
        return RedisServer(self.root / "redis", self.redis_port)

    def mailpit(self) -> Mailpit:
        """The stack's Mailpit: its database and readiness (supervisord runs it)."""
        return Mailpit(
            self.root / "mailpit",
            self.smtp_port,
            self.mailpit_port,
            max_messages=self.mailpit_max_messages,
        )


def repo_root(start: Path | None = None) -> Path:
    """The workspace root (the folder with ``uv.lock``) above ``start``, else ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "uv.lock").is_file():
            return folder
    return here


def _number(environ: Mapping[str, str], name: str, default: int, *, port: bool = True) -> int:
    value = environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or (port and not 0 < int(value) <= MAX_PORT):
        what = "a TCP port number" if port else "a count (0: no limit)"
        raise StackError(f"{name} must be {what}, not {value!r}")
    return int(value)
