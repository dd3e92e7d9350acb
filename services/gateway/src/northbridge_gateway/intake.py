"""``POST /v1/North`` and ``POST /v1/South``: validate, publish, answer honestly.

The answer is 202 only once Kafka acknowledged (``acks=all``); every refusal is a
problem+json body (a :class:`~northbridge_gateway.problems.Refusal`) and nothing is published.
"""

import asyncio
import logging
from dataclasses import dataclass

import structlog
import uuid_utils
from aiohttp import web

from northbridge_gateway import bulk, cloud_events
from northbridge_gateway.auth import CLIENT
from northbridge_gateway.idempotency import Bindings, BindingUnavailableError, KeyReusedError
from northbridge_gateway.metrics import GatewayMetrics
from northbridge_gateway.problems import Handler, Refusal
from northbridge_gateway.publisher import KafkaUnavailableError, Placement, Publisher
from northbridge_gateway.rate_limits import RateLimits
from northbridge_gateway.receipts import Acceptances
from northbridge_gateway.settings import GatewaySettings
from northbridge_gateway.spans import publishing
from northbridge_gateway.validation import validate
from northbridge_shared import tracing
from northbridge_shared.contracts import CLIENT_HEADER, EVENT_ID_HEADER
from northbridge_shared.events import Event
from northbridge_shared.identity import fingerprint, is_idempotency_key
from northbridge_shared.tracing import to_kafka_headers

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Desk:
    """What every intake handler works with."""

    publisher: Publisher
    bindings: Bindings
    acceptances: Acceptances
    metrics: GatewayMetrics
    settings: GatewaySettings
    limits: RateLimits
    closing: asyncio.Event  # set by :func:`closing_signal` when the worker begins to stop


def intake(topic: str, desk: Desk) -> Handler:
    """A handler that publishes valid events to ``topic``."""
    settings, bindings = desk.settings, desk.bindings
    retry_after = {"Retry-After": str(settings.retry_after_s)}
    # Decided once: asking per request (the environment, the log level) was ~5% of the time.
    traced = tracing.enabled()
    debug = log.isEnabledFor(logging.DEBUG)
    accepted = desk.metrics.events.labels(topic, "accepted")

    async def handle(request: web.Request) -> web.Response:
        if not _is_json(request.content_type):
            raise Refusal(415, f"send the event as application/json, not {request.content_type}")
        key = _idempotency_key(request)
        client = request.get(CLIENT)
        who = client or request.remote or "unknown"
        body = await _read_body(request, settings.body_timeout_s, desk.closing, retry_after)
        extra: list[tuple[str, bytes]] = []  # a CloudEvent's ce_* headers
        if cloud_events.is_cloud_event(request):
            incoming = cloud_events.read(request, body)
            body, extra, key = incoming.data, incoming.headers, key or incoming.key
            if bulk.is_bulk(body):
                raise Refusal(422, "a CloudEvent carries one event: its data is an object")

        async def accept(event: Event, key: str | None) -> dict[str, object]:
            await desk.limits.check_recipient(event.recipient)
            if key is not None:
                await _bind(bindings, key, fingerprint(topic, event), retry_after)
            # Without a key, a fresh UUIDv7 cannot meet an earlier id (see identity.py).
            event_id = key or str(uuid_utils.uuid7())
            placed = await _publish(
                desk, topic, event_id, event, retry_after, client=client, extra=extra, traced=traced
            )
            desk.acceptances.note(event_id, placed, client)
            accepted.inc()
            if debug:
                # Debug: one line per event cost ~15% of the gateway's time (py-spy, make
                # bench --profile); the receipt, the metrics and the bridge's batch_done say
                # as much.
                log.debug(
                    "event_accepted",
                    event_id=event_id,
                    topic=topic,
                    partition=placed.partition,
                    offset=placed.offset,
                )
            answer = {"id": event_id, "topic": placed.topic, "partition": placed.partition}
            return answer | {"offset": placed.offset}

        if bulk.is_bulk(body):
            items = bulk.split(body, settings.bulk_max_events)
            keys = _item_keys(key, len(items))
            await desk.limits.check_client(who, cost=len(items))

            async def accept_item(index: int, item: bytes) -> dict[str, object]:
                return await accept(validate(item), keys[index])

            return await bulk.answer(items, accept_item)
        if len(body) > settings.max_body_bytes:
            detail = f"an event is at most {settings.max_body_bytes} bytes (GATEWAY_MAX_BODY_BYTES)"
            raise Refusal(413, detail)
        await desk.limits.check_client(who)
        return web.json_response(await accept(validate(body), key), status=202)

    return handle


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _item_keys(key: str | None, count: int) -> list[str | None]:
    """The items' ids in a bulk sent with ``key``: ``key-0``, ``key-1`` ... (see bulk.py)."""
    if key is None:
        return [None] * count
    if not is_idempotency_key(f"{key}-{count - 1}"):
        detail = f"Idempotency-Key must leave room for -{count - 1} within 128 characters"
        raise Refusal(400, detail)
    return [f"{key}-{index}" for index in range(count)]


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not is_idempotency_key(key):
        detail = "Idempotency-Key must be 1-128 of A-Z a-z 0-9 _ -, starting with a letter or digit"
        raise Refusal(400, detail)
    return key


def closing_signal(app: web.Application) -> asyncio.Event:
    """An event set when aiohttp begins ``app``'s graceful shutdown.

    From then on aiohttp drops every byte that arrives on an open connection (its
    ``RequestHandler.data_received`` returns early once the connection is closing, aio-libs/
    aiohttp#2298, "wontfix"), the rest of a body in flight included: a handler still reading
    one would wait for nothing. It answers 503 at once instead (see :func:`_read_body`).
    """
    closing = asyncio.Event()

    async def on_shutdown(_: web.Application) -> None:
        closing.set()

    app.on_shutdown.append(on_shutdown)
    return closing


async def _read_body(
    request: web.Request, timeout_s: float, closing: asyncio.Event, retry_after: dict[str, str]
) -> bytes:
    """The whole body; 408 past ``timeout_s``, 503 if the worker begins to stop first.

    aiohttp answers 413 itself past ``client_max_size``, but has no read timeout: a client
    that announces more bytes than it sends would hold the connection, and this handler, for
    ever. A body already in whole (most: small bodies arrive with their headers) is read
    without the timer.
    """
    if request.content.is_eof():
        return await request.read()
    reading = asyncio.ensure_future(request.read())
    stopping = asyncio.ensure_future(closing.wait())
    try:
        done, _ = await asyncio.wait(
            (reading, stopping), timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (reading, stopping):
            task.cancel()  # a no-op on the one that finished
    if reading in done:
        return reading.result()  # or raises aiohttp's 413
    if stopping in done:
        detail = "the gateway is shutting down and stopped reading the body; nothing was published"
        raise Refusal(503, detail, headers=retry_after, close=True)
    detail = f"the body did not arrive within {timeout_s:g} s"
    raise Refusal(408, detail, close=True)


async def _bind(bindings: Bindings, key: str, bound_to: str, retry_after: dict[str, str]) -> None:
    try:
        await bindings.bind(key, bound_to)
    except KeyReusedError:
        detail = (
            f"Idempotency-Key {key} was used for another event (another body or endpoint);"
            " use a new key for a new event"
        )
        raise Refusal(422, detail, idempotency_key=key) from None
    except BindingUnavailableError as error:
        log.warning("idempotency_key_unchecked", event_id=key, error=str(error))
        detail = "the Idempotency-Key cannot be checked right now; nothing was published"
        raise Refusal(503, detail, headers=retry_after) from None


async def _publish(  # noqa: PLR0913 - the event, where it goes, and how to answer
    desk: Desk,
    topic: str,
    event_id: str,
    event: Event,
    retry_after: dict[str, str],
    *,
    client: str | None,
    extra: list[tuple[str, bytes]],
    traced: bool,
) -> Placement:
    metrics, key = desk.metrics, event.partition_key()
    value = event.model_dump_json(exclude_none=True).encode()
    headers = [(EVENT_ID_HEADER, event_id.encode())]
    if client is not None:
        headers.append((CLIENT_HEADER, client.encode()))
    headers += extra
    try:
        with metrics.publish.labels(topic).time():
            if not traced:
                return await desk.publisher.publish(topic, key, value, headers)
            with publishing(topic, event_id, key) as span:
                placed = await desk.publisher.publish(topic, key, value, to_kafka_headers(headers))
                span.set_attribute("messaging.destination.partition.id", str(placed.partition))
                span.set_attribute("messaging.kafka.offset", placed.offset)
                return placed
    except KafkaUnavailableError as error:
        metrics.publish_failures.labels(topic).inc()
        log.warning("event_not_published", event_id=event_id, topic=topic, error=str(error))
        # The record may still reach Kafka after the deadline (aiokafka keeps it queued),
        # so the answer says so: a retry with the same Idempotency-Key cannot double it.
        detail = f"{error}; it may still arrive. Retry with the same Idempotency-Key."
        raise Refusal(503, detail, headers=retry_after) from None
