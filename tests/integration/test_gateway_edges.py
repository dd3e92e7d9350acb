"""No client can hold the gateway, and every refusal, the HTTP parser's too, is problem+json."""

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from northbridge_stack import services
from northbridge_stack.ports import free_port

from .conftest import Pipeline, spawn, status
from .support import end_offsets

SEED = b'{"name": "ada", "loc": "london"}'
# Bounds for reading an answer, not waits: each read returns as soon as the server answers.
READ_BOUND_S = 15.0


@dataclass(frozen=True)
class Answer:
    """What came back on a raw connection before the server closed it (or the bound)."""

    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool


def exchange(port: int, request: bytes, *, until_closed: bool = False) -> Answer:
    """Send ``request`` on a fresh connection and read the answer (or until it is closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_BOUND_S) as conn:
        conn.sendall(request)
        return read_answer(conn, until_closed=until_closed)


def read_answer(conn: socket.socket, *, until_closed: bool) -> Answer:
    """Read until the server closes, or (unless ``until_closed``) the body is complete."""
    data, closed = b"", False
    while True:
        try:
            part = conn.recv(65536)
        except TimeoutError:
            break
        if not part:
            closed = True
            break
        data += part
        head, _, body = data.partition(b"\r\n\r\n")
        headers = _headers(head)
        complete = "content-length" in headers and len(body) >= int(headers["content-length"])
        if complete and not until_closed:
            break
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return Answer(status, _headers(head), body, closed)


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def post(headers: str, body: bytes = b"") -> bytes:
    return f"POST /v1/North HTTP/1.1\r\nHost: gateway\r\n{headers}\r\n".encode() + body


def gateway_port(pipeline: Pipeline) -> int:
    return int(pipeline.env["GATEWAY_PORT"])


def assert_problem(answer: Answer, status: int) -> dict[str, object]:
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, object] = json.loads(answer.body)
    assert problem["status"] == status
    return problem


def test_a_body_that_never_arrives_gets_408(pipeline: Pipeline) -> None:
    """Content-Length larger than what is sent: 408 problem after the body timeout, closed."""
    before = end_offsets(pipeline.kafka.bootstrap_servers)
    started = time.monotonic()
    answer = exchange(
        gateway_port(pipeline),
        post("Content-Type: application/json\r\nContent-Length: 100\r\n", SEED),
    )
    assert_problem(answer, 408)
    assert time.monotonic() - started < READ_BOUND_S
    assert answer.headers["connection"] == "close"
    assert end_offsets(pipeline.kafka.bootstrap_servers) == before


PARSER_CASES = [
    pytest.param(
        post("Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n"),
        400,
        id="bad-chunk-size",
    ),
    pytest.param(
        post(
            "Content-Type: application/json\r\nContent-Length: 32\r\n"
            "Transfer-Encoding: chunked\r\n",
            SEED,
        ),
        400,
        id="length-and-chunked",
    ),
    pytest.param(
        post(f"Content-Type: application/json\r\nContent-Length: {len(SEED)}\r\n", SEED)
        + b"\x00\x01garbage after the body\r\n\r\n",
        400,
        id="bytes-after-the-body",
    ),
    pytest.param(post("X-Big: " + "a" * 100_000 + "\r\n"), 431, id="100kb-header"),
    pytest.param(post("".join(f"X-H{n}: v\r\n" for n in range(200))), 431, id="200-headers"),
    pytest.param(
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: gateway\r\n\r\n", 414, id="100kb-url"
    ),
]


@pytest.mark.parametrize(("request_bytes", "status"), PARSER_CASES)
def test_http_parser_refusals_are_problems(
    pipeline: Pipeline, request_bytes: bytes, status: int
) -> None:
    """What aiohttp's parser refuses is answered problem+json, with its status, and closed."""
    before = end_offsets(pipeline.kafka.bootstrap_servers)
    answer = exchange(gateway_port(pipeline), request_bytes, until_closed=True)
    assert_problem(answer, status)
    assert answer.closed  # the parser's state is unknown: the connection is not reused
    assert end_offsets(pipeline.kafka.bootstrap_servers) == before


def test_headers_that_never_end_do_not_hold_the_connection(pipeline: Pipeline) -> None:
    """A client sending half its headers is cut off after the keep-alive time (5 s)."""
    started = time.monotonic()
    answer = exchange(gateway_port(pipeline), b"POST /v1/North HTTP/1.1\r\nHost: gateway\r\n")
    assert answer.closed
    assert time.monotonic() - started < READ_BOUND_S


@pytest.fixture
def capped_gateway(pipeline: Pipeline, tmp_path: Path) -> Iterator[int]:
    """A gateway process of its own: one worker, at most 3 open connections."""
    port = free_port()
    env = pipeline.env | {
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": "1",
        "GATEWAY_MAX_CONNECTIONS": "3",
    }
    process = spawn(services.gateway(), tmp_path, env)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        process.wait_until(lambda: status(http, "/readyz") == 200, timeout=60, what="ready")
    try:
        yield port
    finally:
        process.stop()


def test_connections_beyond_the_cap_get_503(capped_gateway: int) -> None:
    """Three idle connections fill a worker capped at 3; the fourth is answered 503, closed."""
    held = [socket.create_connection(("127.0.0.1", capped_gateway)) for _ in range(3)]
    try:
        answer = exchange(
            capped_gateway,
            post(f"Content-Type: application/json\r\nContent-Length: {len(SEED)}\r\n", SEED),
        )
        assert_problem(answer, 503)
        assert answer.headers["retry-after"] == "1"
    finally:
        for conn in held:
            conn.close()
