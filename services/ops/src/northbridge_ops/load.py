"""A steady load of events at a fixed rate, as plain clients send them (no retries).

Each event's ``name`` is a unique token (``<loc>-<16 hex>``), so its mail can be found by
subject whatever its id. Requests go out on a schedule, each on its own, so a slow or cut
answer does not slow the others down: the rate offered is the rate asked for.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final

import aiohttp

REQUEST_TIMEOUT_S: Final = 30.0
CONNECTIONS: Final = 64


@dataclass(frozen=True)
class Outcome:
    """One request: its unique token, and the answer (status 0: no answer)."""

    token: str
    status: int
    sent_at: float  # epoch seconds
    error: str = ""
    event_id: str = ""  # from a 202's body
    seconds: float = 0.0  # from sending to the answer


def token(loc: str) -> str:
    """A name no other event carries."""
    return f"{loc}-{uuid.uuid4().hex[:16]}"


async def post_events(  # noqa: PLR0913 - the target, the schedule, what to send
    url: str,
    rate: float,
    count: int,
    *,
    loc: str = "load",
    api_key: str | None = None,
    on_answer: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """POST ``count`` events to ``url``, ``rate`` a second; every answer, in send order."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    headers = {"content-type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers=headers
    ) as session:
        loop = asyncio.get_running_loop()
        start = loop.time()
        sends = []
        for number in range(count):
            due = start + number / rate
            await asyncio.sleep(max(0.0, due - loop.time()))  # the schedule, not a wait on state
            sends.append(asyncio.create_task(_post(session, url, token(loc), loc, on_answer)))
        return list(await asyncio.gather(*sends))


async def _post(
    session: aiohttp.ClientSession,
    url: str,
    name: str,
    loc: str,
    on_answer: Callable[[Outcome], None],
) -> Outcome:
    sent_at, started = time.time(), time.perf_counter()
    body = json.dumps({"name": name, "loc": loc})
    try:
        async with session.post(url, data=body) as response:
            answer = await response.read()
            event_id = json.loads(answer).get("id", "") if response.status == 202 else ""
            outcome = Outcome(name, response.status, sent_at, event_id=event_id)
    except (aiohttp.ClientError, TimeoutError) as error:
        outcome = Outcome(name, 0, sent_at, repr(error))
    outcome = replace(outcome, seconds=time.perf_counter() - started)
    on_answer(outcome)
    return outcome
