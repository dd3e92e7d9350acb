"""Names every service agrees on: topics, queues, job paths and Kafka headers.

These are the wire contracts of the pipeline; changing one is a breaking change for
running deployments (consumers, queued jobs, dashboards), so they live in one place.
"""

from typing import Final

NORTH_TOPIC: Final = "north-updates"
SOUTH_TOPIC: Final = "south-updates"
# The gateway's endpoints and the topic each publishes to.
ENDPOINTS: Final = {"/v1/North": NORTH_TOPIC, "/v1/South": SOUTH_TOPIC}

NOTIFICATION_QUEUE: Final = "NotificationQueue"
EMAIL_QUEUE: Final = "EmailQueue"

BRIDGE_GROUP: Final = "bridge"

# Enqueued by dotted path so the bridge never imports worker code (rq resolves it in the worker).
DELIVER_JOB: Final = "northbridge_email_worker.jobs.deliver"

# The key of a job's meta holding its W3C trace context ({"traceparent": ..., ...}).
TRACE_META: Final = "trace"

# Kafka record headers (bytes values, UTF-8).
EVENT_ID_HEADER: Final = "event-id"
# The client whose API key posted the event (GATEWAY_AUTH=api-key); absent otherwise.
CLIENT_HEADER: Final = "client-id"
ERROR_HEADER: Final = "error"
ORIGIN_HEADER_PREFIX: Final = "original-"
# On a dead letter: the id its receipt is under, which a replay of it carries as event-id.
DEAD_LETTER_ID_HEADER: Final = "dead-letter-event-id"
# On a dead letter too large to keep its value, which is dropped: the value's size in bytes.
VALUE_DROPPED_HEADER: Final = "value-dropped-bytes"
# On a replayed record: the dead letter it came from, "<dlq topic>/<partition>/<offset>".
REPLAYED_FROM_HEADER: Final = "replayed-from"

DLQ_SUFFIX: Final = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The dead-letter topic for records of ``topic`` that cannot be turned into jobs."""
    return f"{topic}{DLQ_SUFFIX}"
