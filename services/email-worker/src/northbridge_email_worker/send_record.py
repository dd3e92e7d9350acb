"""Which events were mailed, in Redis, so a retried or duplicated job never mails twice.

A send first takes a lease (``sending``, short TTL), then records ``sent`` (long TTL).
A worker killed mid-send leaves the lease, which expires, and then a retry may send:
the only window for a second mail is a crash between the SMTP server's acceptance and
the ``sent`` record, and that mail carries the same Message-ID.
"""

from enum import StrEnum

from redis import Redis

PREFIX = "northbridge:mail:"


class Claim(StrEnum):
    """The outcome of asking to send an event's mail."""

    GRANTED = "granted"
    SENT = "sent"
    SENDING = "sending"


class SendRecord:
    """The send state of each event id."""

    def __init__(self, redis: Redis, lease_s: int, ttl_s: int) -> None:
        self._redis = redis
        self._lease_s = lease_s
        self._ttl_s = ttl_s

    def claim(self, event_id: str) -> Claim:
        """Take the lease to send, unless a mail was sent or is being sent."""
        if self._redis.set(PREFIX + event_id, Claim.SENDING, nx=True, ex=self._lease_s):
            return Claim.GRANTED
        state = self._redis.get(PREFIX + event_id)
        return Claim.SENT if state == Claim.SENT.encode() else Claim.SENDING

    def confirm(self, event_id: str) -> None:
        """Record the mail as sent for ``ttl_s``."""
        self._redis.set(PREFIX + event_id, Claim.SENT, ex=self._ttl_s)

    def release(self, event_id: str) -> None:
        """Give the lease back after a failed send, so a retry can try at once."""
        self._redis.delete(PREFIX + event_id)
