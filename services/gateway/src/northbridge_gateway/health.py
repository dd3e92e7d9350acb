"""``/healthz`` says the process answers; ``/readyz`` says it can publish right now."""

from aiohttp import web

from northbridge_gateway.problems import Handler, problem
from northbridge_gateway.publisher import Publisher


async def healthz(_: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return web.json_response({"status": "ok"})


def readyz(publisher: Publisher) -> Handler:
    """Ready: a Kafka broker answers a metadata request."""

    async def handle(_: web.Request) -> web.Response:
        if await publisher.ready():
            return web.json_response({"status": "ready"})
        return problem(503, "Kafka is not reachable", headers={"Retry-After": "1"})

    return handle
