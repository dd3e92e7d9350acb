"""structlog set up to write one JSON object per line to stdout, for us and our libraries.

Library loggers (aiohttp, aiokafka, rq, gunicorn) go through the standard ``logging``
module; a ``ProcessorFormatter`` on the root handler renders their records with the same
processors, so an operator greps one format.
"""

import logging
import sys
from typing import Any

import structlog

from northbridge_shared.settings import LogSettings


def configure(settings: LogSettings, service: str) -> None:
    """Route structlog and stdlib logging to stdout in one format, tagged with ``service``."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _tag(service),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        # Levels below LOG_LEVEL are dropped first, before any processor does work for them.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # Libraries that install their own handlers would print twice or in another format.
    for name in ("gunicorn.error", "gunicorn.access", "rq.worker", "aiohttp.access"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True


def _tag(service: str) -> structlog.types.Processor:
    def add_service(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
        event.setdefault("service", service)
        return event

    return add_service
