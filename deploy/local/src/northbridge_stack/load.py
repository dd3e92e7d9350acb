"""A steady load of events with unique tokens, as plain clients send them (no retries).

Each event's ``name`` is its token, so its mail can be found by subject whatever its id;
requests go out at a fixed rate, each on its own, so a slow or cut answer does not slow
the others down.
"""

import asyncio
import json
import time
import uuid
from typing import Final

import aiohttp

from northbridge_stack.ledger import Outcome

REQUEST_TIMEOUT_S: Final = 30.0
LOC: Final = "chaos"


def token() -> str:
    """A token no other event carries."""
    return f"chaos-{uuid.uuid4().hex[:16]}"


def subject_token(subject: str) -> str | None:
    """The token a North mail's subject names (``Notification: <token> in chaos``)."""
    prefix, suffix = "Notification: ", f" in {LOC}"
    if subject.startswith(prefix) and subject.endswith(suffix):
        return subject[len(prefix) : -len(suffix)]
    return None


async def post_events(url: str, rate: float, seconds: float) -> list[Outcome]:
    """POST ``rate`` events a second to ``url`` for ``seconds``; every answer, in send order."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        loop = asyncio.get_running_loop()
        start = loop.time()
        sends = []
        for number in range(int(rate * seconds)):
            due = start + number / rate
            await asyncio.sleep(max(0.0, due - loop.time()))  # the schedule, not a wait on state
            sends.append(asyncio.create_task(_post(session, url, token())))
        return list(await asyncio.gather(*sends))


async def _post(session: aiohttp.ClientSession, url: str, name: str) -> Outcome:
    sent_at = time.time()
    body = json.dumps({"name": name, "loc": LOC})
    try:
        async with session.post(
            url, data=body, headers={"content-type": "application/json"}
        ) as response:
            answer = await response.read()
            event_id = json.loads(answer).get("id", "") if response.status == 202 else ""
            return Outcome(name, response.status, sent_at, event_id=event_id)
    except (aiohttp.ClientError, TimeoutError) as error:
        return Outcome(name, 0, sent_at, repr(error))
