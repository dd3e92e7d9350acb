"""Every error the gateway answers is an RFC 9457 problem, bugs included."""

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from northbridge_gateway.problems import problem_middleware


async def crash(_: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


def answer(method: str, path: str) -> tuple[int, str, dict[str, object]]:
    async def call() -> tuple[int, str, dict[str, object]]:
        app = web.Application(middlewares=[problem_middleware])
        app.router.add_post("/crash", crash)
        async with TestClient(TestServer(app)) as client:
            response = await client.request(method, path)
            return response.status, response.content_type, await response.json()

    return asyncio.run(call())


def test_unexpected_error_is_a_500_problem_without_internals() -> None:
    """A bug answers 500 problem+json and does not leak the exception text."""
    status, content_type, body = answer("POST", "/crash")
    assert (status, content_type) == (500, "application/problem+json")
    assert "secret" not in str(body)


def test_unknown_path_is_a_404_problem() -> None:
    """Aiohttp's own errors keep their status and become problems."""
    status, content_type, body = answer("GET", "/nowhere")
    assert (status, content_type, body["status"]) == (404, "application/problem+json", 404)
