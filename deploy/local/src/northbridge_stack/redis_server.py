"""redis-server from the OS packages, configured like the production Redis."""

import shutil
from pathlib import Path
from types import TracebackType
from typing import Self

import redis

from northbridge_stack.errors import StackError
from northbridge_stack.ports import LOOPBACK
from northbridge_stack.processes import ManagedProcess

_CONFIG = """\
# Written by northbridge_stack.redis_server on every start.
bind {host}
port {port}
protected-mode yes
# We own the process: it stays in the foreground and logs to stdout (our log file).
daemonize no
supervised no
logfile ""
dir "{data}"
# RQ's queues and the send records must survive a restart and must never be evicted:
# a full Redis should refuse writes (the bridge then retries) rather than drop jobs.
appendonly yes
maxmemory-policy noeviction
"""


class RedisServer:
    """One redis-server on 127.0.0.1 with its config, data and (by default) log in ``home``."""

    def __init__(
        self,
        home: Path,
        port: int = 6379,
        *,
        log_file: Path | None = None,
        pid_file: Path | None = None,
    ) -> None:
        """Describe the server; nothing runs or is written until :meth:`start`."""
        self.home = home
        self.port = port
        self.process = ManagedProcess(
            "redis",
            log_file=log_file or home / "redis.log",
            pid_file=pid_file or home / "redis.pid",
        )

    @property
    def url(self) -> str:
        """Where clients connect: ``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def running(self) -> bool:
        """Whether the server process is alive (started by this object or an earlier run)."""
        return self.process.running

    def start(self, *, detached: bool = False, timeout: float = 30.0) -> None:
        """Write the config, spawn redis-server and wait until PING answers.

        Does nothing if the server already runs.
        """
        if self.running:
            return
        server = shutil.which("redis-server")
        if server is None:
            raise StackError(
                "redis-server is not installed: make install (apt-get install redis-server)"
            )
        config = self._write_config()
        self.process.spawn([server, str(config)], detached=detached)
        self.process.wait_until(self._answers, timeout=timeout, what="answering PING")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (redis then syncs the append-only file), SIGKILL after ``timeout``."""
        self.process.stop(timeout=timeout)

    def __enter__(self) -> Self:
        """Start attached; for ``with RedisServer(tmp_path) as redis:``."""
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

    def _write_config(self) -> Path:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.home / "redis.conf"
        config.write_text(_CONFIG.format(host=LOOPBACK, port=self.port, data=data))
        return config

    def _answers(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            # While the append-only file loads, PING answers LOADING: not ready yet.
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
