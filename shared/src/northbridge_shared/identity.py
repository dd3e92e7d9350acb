"""Event identity: where ids come from, the namespaces that keep them apart, what binds them.

Three sources make event ids, and they must never meet by accident:

* the gateway, for an event posted without ``Idempotency-Key``: a time-ordered UUIDv7;
* the client, with ``Idempotency-Key`` (or a producer's ``event-id`` header, held to the same
  rule): 1-128 of ``A-Z a-z 0-9 _ -``, starting with a letter or a digit;
* the bridge, for a record without an ``event-id`` header (``kafka-console-producer``): its
  position, starting with ``_``, which no client key can, so the two namespaces are disjoint.
  A dead letter replayed (``northbridge dlq replay``) carries its first position's id in its
  ``event-id`` header, so a replay of a replay is still the same event.

Every id stays within rq's job id characters and a Message-ID's ``atext`` (RFC 5322 3.2.3).

An id is bound to one event: the fingerprint of its topic and its canonical body, kept in
Redis under :func:`binding_key`. The gateway refuses an ``Idempotency-Key`` bound to another
fingerprint; the bridge dead-letters a record whose id is bound to another one.
"""

import hashlib
import re
from typing import Final

from northbridge_shared.events import Event

# rq 3 refuses job ids outside [A-Za-z0-9_-] (rq.job.JOB_ID_PATTERN), which rules out "."
# and ":"; the first character keeps "_" for derived ids.
IDEMPOTENCY_KEY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
DERIVED_PREFIX: Final = "_"
DERIVED_ID: Final = re.compile(r"_[A-Za-z0-9_-]{1,249}-[0-9]{1,10}-[0-9]{1,19}")
BINDING_PREFIX: Final = "northbridge:event:"


def is_idempotency_key(value: str) -> bool:
    """Whether a client-supplied key (or an ``event-id`` header) can serve as an event id."""
    return IDEMPOTENCY_KEY.fullmatch(value) is not None


def is_derived_id(value: str) -> bool:
    """Whether ``value`` has the shape of :func:`derived_event_id` (a topic is 1-249 chars)."""
    return DERIVED_ID.fullmatch(value) is not None


def derived_event_id(topic: str, partition: int, offset: int) -> str:
    """The id of an event written to Kafka without an ``event-id`` header.

    Deriving it from the record's position means a replay of the same record maps to the
    same job and the same mail. Topic names may contain ".", which rq job ids may not.
    """
    return f"{DERIVED_PREFIX}{topic.replace('.', '_')}-{partition}-{offset}"


def fingerprint(topic: str, event: Event) -> str:
    """What an id is bound to: the topic (so the endpoint) and the event, canonically."""
    canonical = f"{topic}\n{event.model_dump_json(exclude_none=True)}"
    return hashlib.sha256(canonical.encode()).hexdigest()


def binding_key(event_id: str) -> str:
    """The Redis key holding the fingerprint ``event_id`` is bound to."""
    return BINDING_PREFIX + event_id
