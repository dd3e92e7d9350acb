"""aiohttp's HTTP server, answering its own refusals as problem+json and capping connections.

The parser's refusals (a bad chunk size, Content-Length with chunked, a 100 KB header) never
reach the app or its middleware: aiohttp's ``RequestHandler.handle_error`` answers them, as
``text/plain`` 400 (aiohttp/web_protocol.py). :class:`ProblemRequestHandler` answers them as
problem+json with the status each deserves: 431 for header fields too long or too many, 414
for a request line too long, 400 for the rest; and it closes the connection, whose parser
state is unknown.

gunicorn's ``worker_connections`` does not apply to aiohttp's worker, so :class:`ProblemServer`
counts the open connections of its process: one beyond ``max_connections`` has its first
request answered 503 (see :func:`connection_cap_middleware`) and is closed.

aiohttp offers no setting for the handler class; its gunicorn worker accepts a runner from the
app factory (aiohttp/worker.py), and :class:`ProblemAppRunner` builds the server. That uses
three private names, ``AppRunner._make_server``, ``Server._loop`` and ``Server._kwargs``, so
aiohttp is pinned to one minor version and every case is under test.
"""

import asyncio
from typing import Any, Final

import structlog
from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, HttpProcessingError, LineTooLong

from northbridge_gateway.problems import Handler, problem

log = structlog.get_logger(__name__)

# aiohttp's own limit for a header field; the request line gets a different one, so that
# LineTooLong, which carries only the limit it broke, says which of the two it was.
MAX_FIELD_SIZE: Final = 8190
MAX_LINE_SIZE: Final = MAX_FIELD_SIZE + 2
MAX_HEADERS: Final = 128  # aiohttp's default, named here for the 431 detail


def parse_refusal(error: HttpProcessingError) -> tuple[int, str]:
    """The status and detail for one of aiohttp's parser errors."""
    if isinstance(error, LineTooLong):
        limit = error.args[1]
        if limit == MAX_LINE_SIZE:
            return 414, f"the request line is longer than {limit} bytes"
        return 431, f"a header field is longer than {limit} bytes"
    if isinstance(error, BadHttpMessage) and error.message.startswith("Too many headers"):
        return 431, f"more than {MAX_HEADERS} header fields"
    # llhttp's messages go on with the offending bytes after a line break: keep the reason.
    reason = (error.message or "").splitlines()[0][:200].rstrip(":") if error.message else ""
    return 400, f"the request is not valid HTTP/1.1: {reason or type(error).__name__}"


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's protocol for one connection, answering its own errors as problem+json."""

    over_limit = False  # set by ProblemServer for a connection beyond the cap

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """Reached for parser errors, and for errors escaping the app (none: the middleware)."""
        if request.writer.output_size > 0:  # as aiohttp's own: a response is on its way
            raise ConnectionError("Response is sent already, cannot send another response")
        if isinstance(exc, HttpProcessingError):
            status, detail = parse_refusal(exc)
            log.info("http_request_refused", status=status, detail=detail, peer=request.remote)
        else:
            log.error("request_failed_outside_the_app", exc_info=exc)
            status, detail = 500, "the gateway failed on this request"
        response = problem(status, detail)
        response.force_close()
        return response


class ProblemServer(web.Server):
    """Makes a :class:`ProblemRequestHandler` per connection and flags those over the cap."""

    def __init__(self, *args: Any, max_connections: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_connections = max_connections

    def __call__(self) -> ProblemRequestHandler:
        """The asyncio protocol factory: one handler per accepted connection."""
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        """Count the connection in; flag it when it is one too many."""
        super().connection_made(handler, transport)
        if len(self.connections) > self.max_connections and isinstance(
            handler, ProblemRequestHandler
        ):
            handler.over_limit = True


class ProblemAppRunner(web.AppRunner):
    """What the gunicorn app factory returns, so that the server is a :class:`ProblemServer`."""

    def __init__(self, app: web.Application, *, max_connections: int, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._max_connections = max_connections

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()  # runs the app's startup, merges the kwargs
        return ProblemServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,  # private, as are _kwargs and _make_server: see above
            max_connections=self._max_connections,
            **server._kwargs,
        )


@web.middleware
async def connection_cap_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A connection over the cap gets 503 for its first request, and is closed."""
    if getattr(request.protocol, "over_limit", False):
        response = problem(
            503, "this gateway process has too many open connections", headers={"Retry-After": "1"}
        )
        response.force_close()
        return response
    return await handler(request)
