"""The gateway's OpenAPI 3.1 document (``GET /openapi.json``) and a page that shows it (``/docs``).

The event's schema is the pydantic model's own (one fact, not a copy); the paths and answers
are written here, next to the code that gives them. ``make test`` runs schemathesis against
a running gateway with this document (tests/integration/test_openapi.py): no 5xx, and every
answer's status, content type and body are in the document.
"""

import html
import json
from http import HTTPStatus
from typing import Any

from aiohttp import web

from northbridge_gateway.settings import GatewaySettings
from northbridge_shared.contracts import ENDPOINTS
from northbridge_shared.events import Event
from northbridge_shared.identity import IDEMPOTENCY_KEY

PROBLEM_JSON = "application/problem+json"
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str, *headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": _ref("Problem")}},
    }
    if headers:
        answer["headers"] = {name: {"schema": {"type": "string"}} for name in headers}
    return answer


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                },
            },
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["id", "topic", "partition", "offset"],
        "properties": {
            "id": {"type": "string"},
            "topic": {"type": "string"},
            "partition": {"type": "integer", "minimum": 0},
            "offset": {"type": "integer", "minimum": 0},
        },
    },
    "BulkResult": {
        "type": "object",
        "required": ["accepted", "refused", "results"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "refused": {"type": "integer", "minimum": 0},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "status"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "status": {"type": "integer"},
                    },
                    "description": "an Accepted (status 202) or a Problem, with the item's index",
                },
            },
        },
    },
    "Receipt": {
        "type": "object",
        "required": ["id", "state", "hops"],
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string"},
            "hops": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hop", "at"],
                    "properties": {"hop": {"type": "string"}, "at": {"type": "string"}},
                },
            },
        },
    },
    "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
    "CloudEvent": {
        "type": "object",
        "description": "CloudEvents 1.0, structured content mode; data is an Event",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1},
            "source": {"type": "string", "minLength": 1},
            "type": {"type": "string", "minLength": 1},
            "datacontenttype": {"const": "application/json"},
            "data": _ref("Event"),
        },
        # Extension attributes are named in lower-case letters and digits (CloudEvents 1.0).
        "propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
    },
}


def document(settings: GatewaySettings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a gateway with ``settings``."""
    event = Event.model_json_schema(ref_template=REF)
    schemas = SCHEMAS | {"Event": event}
    keyed = settings.auth == "api-key"
    common = {
        "408": _problem("the body did not arrive within GATEWAY_BODY_TIMEOUT_S"),
        "413": _problem("the body is larger than its bound"),
        "429": _problem(
            "over a rate limit",
            "Retry-After",
            "RateLimit-Policy",
            "RateLimit-Limit",
            "RateLimit-Remaining",
            "RateLimit-Reset",
        ),
        "503": _problem("Kafka or Redis did not answer in time; retry", "Retry-After"),
    }
    if keyed:
        common |= {
            "401": _problem("no API key, or an unknown one", "WWW-Authenticate"),
            "403": _problem("the key may not post here"),
        }
    post = {
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY.pattern}$"},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _ref("Event"),
                            {
                                "type": "array",
                                "description": "a bulk: each item is judged alone as an"
                                " Event, and answered in the 207's results",
                                "items": {},
                                "minItems": 1,
                                "maxItems": settings.bulk_max_events,
                            },
                        ]
                    }
                },
                "application/cloudevents+json": {"schema": _ref("CloudEvent")},
            },
        },
        "responses": {
            "202": _json("Kafka has the event", _ref("Accepted")),
            "207": _json("a bulk: one result per item", _ref("BulkResult")),
            "400": _problem("not JSON, a bad Idempotency-Key, or not a valid CloudEvent"),
            "415": _problem("not JSON"),
            "422": _problem(
                "JSON that is not an event or a bulk of at most GATEWAY_BULK_MAX_EVENTS,"
                " or a key used for another event"
            ),
            **common,
        },
    }
    paths: dict[str, Any] = {
        path: {"post": {"summary": f"publish to {topic}", "operationId": topic, **post}}
        for path, topic in ENDPOINTS.items()
    }
    paths["/v1/events/{event_id}"] = {
        "get": {
            "summary": "an event's receipt: every hop it took",
            "operationId": "receipt",
            "parameters": [
                {"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _json("the receipt", _ref("Receipt")),
                "404": _problem("no receipt for this id"),
                **{k: v for k, v in common.items() if k in ("401", "503")},
            },
        }
    }
    paths["/healthz"] = {
        "get": {"summary": "alive", "responses": {"200": _json("alive", _ref("Status"))}}
    }
    paths["/readyz"] = {
        "get": {
            "summary": "can publish now",
            "responses": {
                "200": _json("ready", _ref("Status")),
                "503": _problem("Kafka is not reachable", "Retry-After"),
            },
        }
    }
    if keyed:
        guarded = [paths[p]["post"] for p in ENDPOINTS] + [paths["/v1/events/{event_id}"]["get"]]
        for operation in guarded:
            operation["security"] = [{"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "northbridge gateway", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
    }


def routes(app: web.Application, settings: GatewaySettings) -> None:
    """Serve the document and the page on ``app``."""
    spec = document(settings)
    text, page = json.dumps(spec, indent=2), _page(spec)

    async def serve_document(_: web.Request) -> web.Response:
        return web.Response(text=text, content_type="application/json")

    async def serve_page(_: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app.router.add_get("/openapi.json", serve_document)
    app.router.add_get("/docs", serve_page)


def _page(spec: dict[str, Any]) -> str:
    """A plain page: every operation and its answers (no script, no CDN)."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = ", ".join(
                f"{code} {HTTPStatus(int(code)).phrase}" for code in operation["responses"]
            )
            rows.append(
                f"<tr><td>{method.upper()}</td><td><code>{html.escape(path)}</code></td>"
                f"<td>{html.escape(operation['summary'])}</td><td>{answers}</td></tr>"
            )
    event = html.escape(json.dumps(spec["components"]["schemas"]["Event"], indent=2))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>northbridge gateway</title>"
        "</head><body><h1>northbridge gateway</h1>"
        "<p>The whole document: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>"
        "<table border='1' cellpadding='4'><tr><th>method</th><th>path</th><th>what</th>"
        f"<th>answers</th></tr>{''.join(rows)}</table>"
        f"<h2>Event</h2><pre>{event}</pre></body></html>"
    )
