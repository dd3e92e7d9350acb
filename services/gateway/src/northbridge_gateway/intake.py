"""``POST /v1/North`` and ``POST /v1/South``: validate, publish, answer honestly.

The answer is 202 only once Kafka acknowledged (``acks=all``); every refusal is a
problem+json body and nothing is published.
"""

import structlog
import uuid_utils
from aiohttp import web
from pydantic import ValidationError

from northbridge_gateway.problems import Handler, problem
from northbridge_gateway.publisher import KafkaUnavailableError, Publisher
from northbridge_shared.contracts import EVENT_ID_HEADER
from northbridge_shared.events import Event, is_idempotency_key

log = structlog.get_logger(__name__)


def intake(topic: str, publisher: Publisher, retry_after_s: int) -> Handler:
    """A handler that publishes valid events to ``topic``."""

    async def handle(request: web.Request) -> web.Response:
        if not _is_json(request.content_type):
            return problem(415, f"send the event as application/json, not {request.content_type}")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not is_idempotency_key(key):
            detail = (
                "Idempotency-Key must be 1-128 of A-Z a-z 0-9 _ -, starting with a letter or digit"
            )
            return problem(400, detail)
        body = await request.read()  # aiohttp answers 413 past client_max_size
        try:
            event = Event.model_validate_json(body)
        except ValidationError as error:
            return _invalid(error)
        event_id = key or str(uuid_utils.uuid7())
        try:
            placed = await publisher.publish(
                topic,
                key=event.partition_key(),
                value=event.model_dump_json(exclude_none=True).encode(),
                headers=[(EVENT_ID_HEADER, event_id.encode())],
            )
        except KafkaUnavailableError as error:
            log.warning("event_not_published", event_id=event_id, topic=topic, error=str(error))
            # The record may still reach Kafka after the deadline (aiokafka keeps it queued),
            # so the answer says so: a retry with the same Idempotency-Key cannot double it.
            detail = f"{error}; it may still arrive. Retry with the same Idempotency-Key."
            return problem(503, detail, headers={"Retry-After": str(retry_after_s)})
        log.info(
            "event_accepted",
            event_id=event_id,
            topic=topic,
            partition=placed.partition,
            offset=placed.offset,
        )
        return web.json_response(
            {
                "id": event_id,
                "topic": placed.topic,
                "partition": placed.partition,
                "offset": placed.offset,
            },
            status=202,
        )

    return handle


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _invalid(error: ValidationError) -> web.Response:
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    if any(p["type"] == "json_invalid" for p in problems):
        return problem(400, f"the body is not valid JSON: {problems[0]['msg']}")
    fields = [
        {"field": ".".join(str(part) for part in p["loc"]) or "(body)", "problem": p["msg"]}
        for p in problems
    ]
    return problem(422, "the event does not match the expected shape", errors=fields)
