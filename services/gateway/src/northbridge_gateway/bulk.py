"""Bulk ingest: a JSON array of events in one POST, answered item by item with 207.

Each item is held to the rules of a single event and answered on its own: its id and where
it landed (what a 202 says), or its problem (what a 4xx or 503 says). The valid ones are
published together, so the producer sends them as one batch, and each item's answer waits for
Kafka's acknowledgement of that item. The request as a whole is refused only when it is not a
JSON array of at most ``GATEWAY_BULK_MAX_EVENTS`` items.

With an ``Idempotency-Key`` K, item i's id is ``K-i``: the same request sent again gives every
item its id again, so a retried bulk doubles nothing, and a changed item is refused alone.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from northbridge_gateway.problems import Refusal, problem_body
from northbridge_gateway.validation import twice
from northbridge_shared.events import Duplicated, mark_duplicates

Item = bytes | Refusal  # an item's own JSON, to validate as a single body; or why not
AcceptOne = Callable[[int, bytes], Awaitable[dict[str, Any]]]


def is_bulk(body: bytes) -> bool:
    """Whether ``body`` is a JSON array (a single event is an object)."""
    return body.lstrip()[:1] == b"["


def split(body: bytes, max_events: int) -> list[Item]:
    """The items of the array in ``body``; raises a Refusal for the request as a whole."""
    try:
        items = json.loads(body, object_pairs_hook=mark_duplicates)
    except ValueError as error:
        raise Refusal(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(items, list) or not items:
        raise Refusal(422, "send one event as an object, or several as a non-empty array")
    if len(items) > max_events:
        detail = (
            f"{len(items)} events in one request; at most {max_events} (GATEWAY_BULK_MAX_EVENTS)"
        )
        raise Refusal(422, detail)  # the bytes are bounded by 413, the count is a rule
    # Each item is judged as a body of its own would be (pydantic's JSON parser included).
    return [
        twice(item.key) if isinstance(item, Duplicated) else json.dumps(item).encode()
        for item in items
    ]


async def answer(items: list[Item], accept_one: AcceptOne) -> web.Response:
    """Accept every valid item at once; 207 with one result per item, in the request's order."""
    results = await asyncio.gather(*(_result(n, item, accept_one) for n, item in enumerate(items)))
    accepted = sum(1 for result in results if result["status"] == 202)
    body = {"accepted": accepted, "refused": len(results) - accepted, "results": results}
    return web.json_response(body, status=207)


async def _result(index: int, item: Item, accept_one: AcceptOne) -> dict[str, Any]:
    try:
        if isinstance(item, Refusal):
            raise item
        return {"index": index, "status": 202, **await accept_one(index, item)}
    except Refusal as refusal:
        return {"index": index, **problem_body(refusal.status, refusal.detail, **refusal.extra)}
