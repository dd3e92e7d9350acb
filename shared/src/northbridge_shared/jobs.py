"""The job the bridge enqueues and the email-worker runs, and how topics map to queues."""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from northbridge_shared.contracts import EMAIL_QUEUE, NORTH_TOPIC, NOTIFICATION_QUEUE, SOUTH_TOPIC
from northbridge_shared.events import Event


class MailKind(StrEnum):
    """How an event is rendered: north events notify, south events are direct mails."""

    NOTIFICATION = "notification"
    DIRECT = "direct"


class Route(BaseModel):
    """Where the events of one topic go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str
    mail: MailKind


DEFAULT_ROUTES: dict[str, Route] = {
    NORTH_TOPIC: Route(queue=NOTIFICATION_QUEUE, mail=MailKind.NOTIFICATION),
    SOUTH_TOPIC: Route(queue=EMAIL_QUEUE, mail=MailKind.DIRECT),
}


class Delivery(BaseModel):
    """The single argument of the deliver job, JSON-serialised by rq."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str
    topic: str
    mail: MailKind
    event: Event
