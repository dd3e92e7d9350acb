"""redis-server from the OS packages, configured like the production Redis."""

import shutil
from pathlib import Path

import redis

from northbridge_stack.errors import StackError
from northbridge_stack.ports import LOOPBACK
from northbridge_stack.processes import Server

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


class RedisServer(Server):
    """One redis-server on 127.0.0.1: config, data and (when a test starts it) log in ``home``."""

    def __init__(
        self, home: Path, port: int = 6379, *, more_config: str = "", url: str = ""
    ) -> None:
        """Describe the server; nothing runs or is written until :meth:`start`.

        ``more_config`` is appended to redis.conf (TLS, ``requirepass``), and ``url`` is then
        how a client reaches it (``rediss://:PASSWORD@...``).
        """
        super().__init__("redis", home / "redis.log")
        self.home = home
        self.port = port
        self._more_config = more_config
        self._url = url

    ready_what = "answering PING"

    @property
    def url(self) -> str:
        """Where clients connect: ``redis://127.0.0.1:PORT/0`` unless told otherwise."""
        return self._url or f"redis://{LOOPBACK}:{self.port}/0"

    def command(self) -> tuple[list[str], None]:
        """Write redis.conf; the redis-server command."""
        server = shutil.which("redis-server")
        if server is None:
            raise StackError(
                "redis-server is not installed: make install (apt-get install redis-server)"
            )
        return [server, str(self._write_config())], None

    def _write_config(self) -> Path:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.home / "redis.conf"
        config.write_text(
            _CONFIG.format(host=LOOPBACK, port=self.port, data=data) + self._more_config
        )
        return config

    def serving(self) -> bool:
        """PING answers (not LOADING)."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            # While the append-only file loads, PING answers LOADING: not ready yet.
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()
