"""Which events were mailed, in Redis, so a retried or duplicated job never mails twice.

A send first takes a lease (``sending``, short TTL), then records ``sent`` (long TTL) just
before the SMTP server can accept the mail (see smtp.py). A worker killed before that
leaves the lease, which expires; then a retry may send, and the server has nothing from the
killed attempt. So a crash never makes a second mail; one within microseconds after the
record and before the end-of-data mark loses the mail.
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

    def commit(self, event_id: str) -> None:
        """Record the mail as sent for ``ttl_s`` (just before the server can accept it)."""
        self._redis.set(PREFIX + event_id, Claim.SENT, ex=self._ttl_s)

    def release(self, event_id: str) -> None:
        """Forget the send after the server refused it, so a retry can try at once."""
        self._redis.delete(PREFIX + event_id)
