"""An event's receipt read from Redis, as ``GET /v1/events/{id}`` answers it."""

from typing import Any

from redis import Redis

from northbridge_shared import receipts

# Shown first in a hop's details; the rest follow in the order they were written.
_TIME_FIELDS = ("at",)


def receipt(redis: Redis, event_id: str) -> dict[str, Any] | None:
    """The receipt of ``event_id``, or None if nothing was written under it."""
    fields = redis.hgetall(receipts.receipt_key(event_id))
    return receipts.receipt(event_id, fields) if fields else None


def details(hop: dict[str, Any]) -> str:
    """A hop's facts on one line: ``topic=north-updates partition=3 ...``."""
    return " ".join(
        f"{name}={value}" for name, value in hop.items() if name not in ("hop", *_TIME_FIELDS)
    )
