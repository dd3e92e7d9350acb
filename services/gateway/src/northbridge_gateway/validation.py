"""The event in a body, or the problem that says why there is none."""

from pydantic import ValidationError

from northbridge_gateway.problems import Refusal
from northbridge_shared.events import DuplicateKeyError, Event, parse_event


def validate(body: bytes) -> Event:
    """The event ``body`` holds; raises a 400 (not JSON) or 422 (not an event) Refusal."""
    try:
        return parse_event(body)
    except DuplicateKeyError as error:
        raise twice(error.key) from None
    except ValidationError as error:
        problems = error.errors(include_url=False, include_input=False, include_context=False)
        if any(p["type"] == "json_invalid" for p in problems):
            raise Refusal(400, f"the body is not valid JSON: {problems[0]['msg']}") from None
        fields = [
            {"field": ".".join(str(part) for part in p["loc"]) or "(body)", "problem": p["msg"]}
            for p in problems
        ]
        detail = "the event does not match the expected shape"
        raise Refusal(422, detail, errors=fields) from None


def twice(key: str) -> Refusal:
    """The problem of an event that names ``key`` twice (which value was meant is unknowable)."""
    return Refusal(
        422, "the event names a field twice", errors=[{"field": key, "problem": "duplicate key"}]
    )
