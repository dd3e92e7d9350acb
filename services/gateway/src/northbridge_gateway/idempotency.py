"""An ``Idempotency-Key`` holds for one body on one endpoint; reused otherwise, it is refused.

A retry with the same key and body is the same event (published again, deduplicated by the
bridge: one job, one mail). The same key with another body, or on the other endpoint, would
otherwise be answered 202 and then dropped as a duplicate, so it is refused before anything
is published: 422, as the IETF's Idempotency-Key draft answers a key reused with another
payload (draft-ietf-httpapi-idempotency-key-header, section 2.7).

The key is bound to the event's fingerprint in Redis with one ``SET NX GET`` (Redis >= 7.0),
for ``JOB_EVENT_ID_TTL_S``; the bridge writes the same binding for every job it enqueues.
"""

import asyncio

from redis.asyncio import Redis
from redis.exceptions import RedisError

from northbridge_shared.identity import binding_key


class KeyReusedError(Exception):
    """The key is bound to another body or endpoint."""


class BindingUnavailableError(Exception):
    """Redis did not answer in time; whether the key is free is unknown."""


class Bindings:
    """Binds event ids to fingerprints, each at most once."""

    def __init__(self, redis: Redis, ttl_s: int, timeout_s: float) -> None:
        self._redis = redis
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s

    async def bind(self, event_id: str, fingerprint: str) -> None:
        """Bind ``event_id`` to ``fingerprint`` unless bound already: to it (fine) or another."""
        try:
            async with asyncio.timeout(self._timeout_s):
                bound = await self._redis.set(
                    binding_key(event_id), fingerprint, nx=True, get=True, ex=self._ttl_s
                )
        except (RedisError, OSError, TimeoutError) as error:
            raise BindingUnavailableError(f"Redis did not answer: {error!r}") from error
        # With GET, SET answers the value it found (the key stays), or None (it bound it).
        if isinstance(bound, bytes) and bound.decode() != fingerprint:
            raise KeyReusedError(event_id)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
