"""RFC 9457 problem details: every error the gateway answers says what went wrong."""

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import structlog
from aiohttp import web

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)


def problem_body(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    """The problem's members; ``title`` is the status phrase, ``detail`` the specifics."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    return body | {"detail": detail, **extra}


def problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> web.Response:
    """A ``problem+json`` response (see :func:`problem_body`)."""
    body = problem_body(status, detail, **extra)
    return web.json_response(body, status=status, headers=headers, content_type=PROBLEM_JSON)


class Refusal(Exception):  # noqa: N818 - a refusal is an answer, not an error of ours
    """Raised anywhere in a handler: the request is answered with this problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        close: bool = False,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers, self.extra = status, detail, headers, extra
        self.close = close

    def response(self) -> web.Response:
        """The problem+json answer; ``close`` ends the connection after it."""
        response = problem(self.status, self.detail, headers=self.headers, **self.extra)
        if self.close:
            response.force_close()
        return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's own errors (404, 405, 413 ...) into problem details too."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal.response()
    except web.HTTPException as error:
        if error.status < 400:  # redirects and successes pass through
            raise
        headers = {k: v for k, v in error.headers.items() if k.lower() == "allow"}
        return problem(error.status, error.text or error.reason, headers=headers)
    except Exception:
        # A bug, not the client's fault: log it whole, answer without internals.
        log.exception("request_failed", path=request.path)
        detail = "the gateway failed on this request; retry with the same Idempotency-Key"
        return problem(500, detail)
