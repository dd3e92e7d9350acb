"""Bad HTTP input gets a 4xx problem+json answer and publishes nothing."""

import pytest

from .conftest import Pipeline
from .support import end_offsets

SEED = '{"name": "ada", "loc": "london"}'

CASES = [
    pytest.param('{"name": "ada", "loc"', {}, 400, id="malformed-json"),
    pytest.param('{"name": 1, "loc": "london"}', {}, 422, id="wrong-type"),
    pytest.param('{"name": "ada"}', {}, 422, id="missing-field"),
    pytest.param('{"name": "ada", "loc": "x", "admin": true}', {}, 422, id="unknown-field"),
    pytest.param('"ada"', {}, 422, id="not-an-object"),  # an array is a bulk (test_bulk)
    pytest.param(
        '{"name": "ada\\r\\nBcc: victim@example.com", "loc": "x"}', {}, 422, id="header-injection"
    ),
    pytest.param('{"name": "' + "a" * 70_000 + '", "loc": "x"}', {}, 413, id="huge-body"),
    pytest.param('{"name": "ada", "loc": "x", "name": "eve"}', {}, 422, id="duplicate-key"),
    pytest.param('{"name": "a", "loc": "x", "message": "a\\u001bb"}', {}, 422, id="escape-in-body"),
    pytest.param('{"name": NaN, "loc": "x"}', {}, 422, id="nan"),
    pytest.param(SEED, {"content-type": "text/plain"}, 415, id="not-json-content-type"),
    pytest.param(SEED, {"Idempotency-Key": "no spaces allowed"}, 400, id="bad-idempotency-key"),
]


@pytest.mark.parametrize(("body", "headers", "status"), CASES)
@pytest.mark.parametrize("path", ["/v1/North", "/v1/South"])
def test_bad_input_is_refused_and_nothing_published(
    pipeline: Pipeline, path: str, body: str, headers: dict[str, str], status: int
) -> None:
    """Each class of bad input has its status, an RFC 9457 body, and no Kafka record."""
    before = end_offsets(pipeline.kafka.bootstrap_servers)
    response = pipeline.post(path, body, **headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert end_offsets(pipeline.kafka.bootstrap_servers) == before


def test_unknown_route_and_method_are_problems(pipeline: Pipeline) -> None:
    """Aiohttp's own 404 and 405 answers are problem+json too."""
    missing = pipeline.http.post("/v1/East", content=SEED)
    wrong_method = pipeline.http.get("/v1/North")
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert "POST" in wrong_method.headers["allow"]
