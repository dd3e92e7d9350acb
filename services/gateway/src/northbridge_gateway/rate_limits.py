"""Rate limits that every gateway process and replica share: per client and per recipient.

The counts live in Redis, so a client gets one budget however its requests spread over
gunicorn's workers and the gateway's replicas. The library :pypi:`limits` keeps them, with
its sliding window counter (two counters a limit, no burst of twice the rate at a window's
edge) and one script call per check. A request over a limit is answered 429 with
``Retry-After`` and the ``RateLimit-*`` fields of the IETF draft; nothing is published.

The client is the API key's client (``GATEWAY_AUTH=api-key``), else the peer's address. The
recipient is the event's ``recipient``, or ``default`` for events mailed to
``MAIL_DEFAULT_RECIPIENT``: a mail pipeline must not let one caller flood one inbox.

If Redis does not answer, the request goes on unchecked (logged as ``rate_limit_unchecked``):
a limit protects the pipeline, and refusing everything while Redis is away would not.
"""

import asyncio
import math
import time

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from northbridge_gateway.problems import Refusal

log = structlog.get_logger(__name__)

KEY_PREFIX = "northbridge:limits"
DEFAULT_RECIPIENT = "default"


class RateLimits:
    """Both limits, either of them possibly off (None)."""

    def __init__(
        self,
        redis_url: str,
        per_client: str | None,
        per_recipient: str | None,
        timeout_s: float,
    ) -> None:
        self._per_client = parse(per_client) if per_client else None
        self._per_recipient = parse(per_recipient) if per_recipient else None
        self._timeout_s = timeout_s
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        if self._per_client or self._per_recipient:
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
            self._limiter = SlidingWindowCounterRateLimiter(storage)

    async def check_client(self, client: str, cost: int = 1) -> None:
        """Count ``cost`` events of ``client``; raise a 429 Refusal if it is over its limit."""
        await self._check(self._per_client, "client", client, cost)

    async def check_recipient(self, recipient: str | None) -> None:
        """Count one mail to ``recipient``; raise a 429 Refusal if it is over its limit."""
        await self._check(self._per_recipient, "recipient", recipient or DEFAULT_RECIPIENT)

    async def _check(self, limit: RateLimitItem | None, kind: str, who: str, cost: int = 1) -> None:
        if limit is None or self._limiter is None:
            return
        try:
            async with asyncio.timeout(self._timeout_s):
                if await self._limiter.hit(limit, kind, who, cost=cost):
                    return
                stats = await self._limiter.get_window_stats(limit, kind, who)
        except (StorageError, RedisError, OSError, TimeoutError) as error:
            log.warning("rate_limit_unchecked", kind=kind, error=repr(error))
            return
        wait_s = max(1, math.ceil(stats.reset_time - time.time()))
        window_s = limit.get_expiry()
        headers = {
            "Retry-After": str(wait_s),
            "RateLimit-Policy": f"{limit.amount};w={window_s}",
            "RateLimit-Limit": str(limit.amount),
            "RateLimit-Remaining": str(stats.remaining),
            "RateLimit-Reset": str(wait_s),
        }
        detail = (
            f"{kind} {who} is over its limit of {limit.amount} per {window_s} s;"
            f" nothing was published, retry in {wait_s} s"
        )
        raise Refusal(429, detail, headers=headers)
