"""A body still arriving when the worker begins to stop is answered 503 at once, not 408 later.

aiohttp drops the bytes that reach a connection once its graceful shutdown began, so the
rest of such a body never comes. This runs aiohttp's real server on loopback and its real
shutdown (``AppRunner.cleanup``), with the gateway's body reader and problem middleware.
"""

import asyncio
import json

from aiohttp import web

from northbridge_gateway.intake import _read_body, closing_signal
from northbridge_gateway.problems import problem_middleware

HEAD = b"POST / HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
BODY_TIMEOUT_S = 10.0  # without the shutdown signal the answer would be this 408, and fail


async def _answer_to_half_a_body_at_shutdown() -> tuple[bytes, dict[str, str], bytes]:
    app = web.Application(middlewares=[problem_middleware])
    closing = closing_signal(app)
    reading = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        reading.set()
        return web.Response(
            body=await _read_body(request, BODY_TIMEOUT_S, closing, {"Retry-After": "1"})
        )

    app.router.add_post("/", handler)
    runner = web.AppRunner(app, shutdown_timeout=BODY_TIMEOUT_S * 2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEAD + b"Content-Length: 40\r\n\r\n" + b'{"name": "half')
    await writer.drain()
    await reading.wait()  # the handler is in the body read, as a request in flight would be
    stopping = asyncio.create_task(runner.cleanup())
    answer = await reader.read()  # to the end: the 503 closes the connection
    await stopping
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status_line.encode(), headers, body


def test_a_body_cut_by_shutdown_is_answered_503_with_retry_after() -> None:
    status_line, headers, body = asyncio.run(_answer_to_half_a_body_at_shutdown())
    assert status_line.split(b" ")[1] == b"503", (status_line, body)
    assert headers["retry-after"] == "1"
    assert headers["content-type"].startswith("application/problem+json")
    assert "nothing was published" in json.loads(body)["detail"]
