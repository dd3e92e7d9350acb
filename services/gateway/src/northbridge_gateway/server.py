"""gunicorn, configured from settings instead of a config file, serving the aiohttp app."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from northbridge_gateway.app import GatewayConfig, build_app
from northbridge_gateway.http_server import MAX_FIELD_SIZE, MAX_LINE_SIZE, ProblemAppRunner
from northbridge_gateway.metrics_folder import SHARED_MEMORY


class StructlogLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger without its own handlers: records reach the structlog root handler."""

    def setup(self, cfg: Any) -> None:
        """Keep gunicorn's levels, drop its handlers and formats."""
        self.cfg = cfg
        self.error_log.setLevel(logging.getLogger().level)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True


class Gateway(BaseApplication):  # type: ignore[misc]
    """The gunicorn master: forks ``workers`` aiohttp workers on ``host:port``."""

    def __init__(self, config: GatewayConfig) -> None:
        self._config = config
        self._gateway = config.gateway
        super().__init__()

    def load_config(self) -> None:
        """Settings come from the environment via pydantic, never from a gunicorn file."""
        options = {
            "bind": f"{self._gateway.host}:{self._gateway.port}",
            "workers": self._gateway.workers,
            "worker_class": "aiohttp.GunicornUVLoopWebWorker",
            "graceful_timeout": self._gateway.graceful_timeout_s,
            "logger_class": StructlogLogger,
            "proc_name": "northbridge-gateway",
            # gunicorn's control socket sits at one path per user: two gateways would collide.
            "control_socket_disable": True,
        }
        # Workers heartbeat by touching a temp file; on a container's overlay /tmp that write
        # can stall and get workers killed, so gunicorn advises a memory-backed folder.
        if SHARED_MEMORY.is_dir():
            options["worker_tmp_dir"] = str(SHARED_MEMORY)
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self) -> Callable[[], Awaitable[web.AppRunner]]:
        """The parameterless async factory aiohttp's gunicorn worker calls after the fork.

        It returns the runner, not the app (see http_server.py), so it sets what the worker
        would: the keep-alive, the shutdown time within gunicorn's, and no access log.
        """
        config, gateway = self._config, self._gateway

        async def factory() -> web.AppRunner:
            return ProblemAppRunner(
                build_app(config),
                max_connections=gateway.max_connections,
                keepalive_timeout=gateway.keepalive_s,
                shutdown_timeout=gateway.graceful_timeout_s * 0.95,
                access_log=None,
                max_line_size=MAX_LINE_SIZE,
                max_field_size=MAX_FIELD_SIZE,
            )

        return factory
