"""API keys: what a client sends, what Redis keeps, and who may post where.

A key is a random token (``nbk_`` and 43 URL-safe characters, 256 bits) shown once when it is
made (``northbridge keys create``) and sent as ``Authorization: Bearer <token>``. Redis keeps
only its SHA-256, in one hash (:data:`KEYS`), next to a small record: the key's id (to list
and revoke it by), its client, the endpoints it may post to (none listed: all) and when it
was made. A fast hash suffices where a password would need a slow one: the token is random,
so there is nothing to guess from its digest. The gateway reads this hash, the ``northbridge``
command writes it; both go through this module.
"""

import hashlib
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Final

KEYS: Final = "northbridge:api-keys"
TOKEN_PREFIX: Final = "nbk_"  # noqa: S105 - a prefix that marks a token, not a secret
# A client id goes into Kafka headers, receipts and logs: short and plain.
CLIENT_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class ApiKey:
    """What Redis keeps about one key, under its token's digest."""

    id: str
    client: str
    endpoints: tuple[str, ...] = ()  # the paths it may post to; empty: every endpoint
    created: str = ""

    def allows(self, path: str) -> bool:
        """Whether this key may post to ``path`` (``/v1/North``, ...)."""
        return not self.endpoints or path in self.endpoints

    def encode(self) -> str:
        """The record as Redis keeps it."""
        return json.dumps(asdict(self))

    @classmethod
    def decode(cls, text: str | bytes) -> "ApiKey":
        """The record from Redis."""
        data = json.loads(text)
        return cls(data["id"], data["client"], tuple(data["endpoints"]), data["created"])


def is_client_id(value: str) -> bool:
    """Whether ``value`` can name a client."""
    return CLIENT_ID.fullmatch(value) is not None


def digest(token: str) -> str:
    """What Redis keeps of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_key(client: str, endpoints: tuple[str, ...] = ()) -> tuple[str, ApiKey]:
    """A new token and its record (not stored yet)."""
    if not is_client_id(client):
        raise ValueError(f"{client!r} is not a client id: 1-64 of A-Z a-z 0-9 _ . -")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    made = datetime.now(UTC).isoformat(timespec="seconds")
    return token, ApiKey(secrets.token_hex(4), client, endpoints, made)
