"""CloudEvents in: both HTTP content modes, carried to Kafka in the Kafka binding's binary mode.

A POST is a CloudEvent when it is in structured mode (``Content-Type:
application/cloudevents+json``, the attributes and ``data`` in one JSON object) or in binary
mode (``ce-specversion``, ``ce-id``, ``ce-source``, ``ce-type`` ... headers, the data as the
body). The CloudEvents SDK reads and checks the attributes; the data must be a northbridge
event, held to the same rules as a plain body. The record then carries the attributes as the
Kafka binding's ``ce_*`` headers (and ``content-type``), so a CloudEvents consumer of the
topic reads it as the CloudEvent that was sent, and the bridge reads it as any event.

CloudEvents says that events with the same ``source`` and ``id`` are the same event, so
without an ``Idempotency-Key`` the event id is derived from the two: the same CloudEvent
sent again gets its 202 again and makes one mail.
"""

import hashlib
import json
from dataclasses import dataclass

from aiohttp import web
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.bindings.kafka import to_binary
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.formats.json import JSONFormat

from northbridge_gateway.problems import Refusal

STRUCTURED = "application/cloudevents+json"
BINARY_MARK = "ce-specversion"
BATCH = "application/cloudevents-batch+json"
JSON_DATA = ("application/json", None)
REQUIRED = frozenset({"specversion", "id", "source", "type"})


@dataclass(frozen=True)
class Incoming:
    """What a CloudEvent brings: its data as a body, its Kafka headers, and its id key."""

    data: bytes
    headers: list[tuple[str, bytes]]
    key: str


def is_cloud_event(request: web.Request) -> bool:
    """Whether ``request`` carries a CloudEvent, in either content mode."""
    return request.content_type in (STRUCTURED, BATCH) or BINARY_MARK in request.headers


def read(request: web.Request, body: bytes) -> Incoming:
    """The CloudEvent in ``request``; raises a Refusal when it is not a valid one."""
    if request.content_type == BATCH:
        raise Refusal(415, "CloudEvents batch mode is not taken: send a JSON array of events")
    wanted = {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith("ce-") or name.lower() == "content-type"
    }
    structured = request.content_type == STRUCTURED
    present = set(_envelope(body)) if structured else {n[3:] for n in wanted if n[:3] == "ce-"}
    missing = sorted(REQUIRED - present)
    if missing:  # the SDK would make up an id, say
        raise Refusal(400, f"not a valid CloudEvent: it has no {', '.join(missing)}")
    try:
        event = from_http_event(HTTPMessage(headers=wanted, body=body))
    except (BaseCloudEventException, ValueError, TypeError, KeyError) as error:
        raise Refusal(400, f"not a valid CloudEvent: {error}") from None
    attributes = event.get_attributes()
    content_type = attributes.get("datacontenttype")
    if content_type not in JSON_DATA:
        raise Refusal(415, f"the CloudEvent's data must be application/json, not {content_type}")
    # Binary mode: the body is the data, as sent. Structured: the data member, as JSON again.
    data = json.dumps(event.get_data()).encode() if structured else body
    kafka = to_binary(event, JSONFormat())
    headers = list(kafka.headers.items())
    if content_type is None:
        headers.append(("content-type", b"application/json"))
    return Incoming(data, headers, _key(str(attributes["source"]), str(attributes["id"])))


def _envelope(body: bytes) -> dict[str, object]:
    """A structured CloudEvent's members; a Refusal if the body is no JSON object."""
    try:
        members = json.loads(body)
    except ValueError:
        members = None
    if not isinstance(members, dict):
        raise Refusal(400, "not a valid CloudEvent: the body must be a JSON object")
    return members


def _key(source: str, event_id: str) -> str:
    """An Idempotency-Key from the CloudEvent's identity (source and id)."""
    return "ce-" + hashlib.sha256(f"{source}\n{event_id}".encode()).hexdigest()[:40]
