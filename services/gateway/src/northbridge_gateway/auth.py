"""Who is calling: the API-key check in front of ``/v1/`` when ``GATEWAY_AUTH=api-key``.

A request to ``/v1/`` carries ``Authorization: Bearer <token>``; the token's digest is looked
up in Redis (see :mod:`northbridge_shared.api_keys`). Missing or unknown: 401, with the
``WWW-Authenticate`` challenge of RFC 6750. A key limited to other endpoints: 403. Redis not
answering: 503 with ``Retry-After``, as for an Idempotency-Key. The client's id is then
bound to every log line of the request and handed to the handler (:data:`CLIENT`).

Each worker process remembers an answer for ``GATEWAY_AUTH_CACHE_S``, so a burst costs Redis
one look-up per key and process; a revoked key is refused within that time.
"""

import asyncio
import time
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from redis.asyncio import Redis
from redis.exceptions import RedisError

from northbridge_gateway.problems import Handler, Refusal
from northbridge_shared.api_keys import KEYS, ApiKey, digest

CLIENT: Final = web.RequestKey("client", str)
PROTECTED: Final = "/v1/"
# Remembered answers per process, beyond which the memory starts over (a flood of bad tokens).
CACHE_MOST: Final = 10_000
CHALLENGE: Final = 'Bearer realm="northbridge"'


class Keys:
    """Looks tokens up in Redis, remembering each answer for ``cache_s`` seconds."""

    def __init__(self, redis: Redis, cache_s: float, timeout_s: float) -> None:
        self._redis, self._cache_s, self._timeout_s = redis, cache_s, timeout_s
        self._known: dict[str, tuple[float, ApiKey | None]] = {}

    async def find(self, token: str) -> ApiKey | None:
        """The key of ``token``, None if there is none; raises when Redis does not answer."""
        token_digest, now = digest(token), time.monotonic()
        known = self._known.get(token_digest)
        if known is not None and known[0] > now:
            return known[1]
        async with asyncio.timeout(self._timeout_s):
            record = await self._redis.hget(KEYS, token_digest)
        key = None if record is None else ApiKey.decode(record)
        if self._cache_s > 0:
            if len(self._known) >= CACHE_MOST:
                self._known.clear()
            self._known[token_digest] = (now + self._cache_s, key)
        return key


def auth_middleware(keys: Keys, retry_after_s: int) -> Middleware:
    """Refuse ``/v1/`` requests without a valid key; let the rest (health, metrics) through."""
    retry_after = {"Retry-After": str(retry_after_s)}

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(PROTECTED):
            return await handler(request)
        try:
            key = await keys.find(_bearer(request))
        except (RedisError, OSError, TimeoutError):
            detail = "API keys cannot be checked right now (Redis did not answer); nothing was done"
            raise Refusal(503, detail, headers=retry_after) from None
        if key is None:
            challenge = f'{CHALLENGE}, error="invalid_token"'
            detail = "the API key is not known: revoked, mistyped, or never made"
            raise Refusal(401, detail, headers={"WWW-Authenticate": challenge})
        if request.method == "POST" and not key.allows(request.path):
            detail = f"key {key.id} of client {key.client} may not post to {request.path}"
            raise Refusal(403, detail)
        request[CLIENT] = key.client
        with structlog.contextvars.bound_contextvars(client=key.client):
            return await handler(request)

    return authenticate


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        detail = "send an API key: Authorization: Bearer <key> (northbridge keys create)"
        raise Refusal(401, detail, headers={"WWW-Authenticate": CHALLENGE})
    return token.strip()
