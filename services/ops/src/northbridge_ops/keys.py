"""API keys in Redis: made, listed and revoked by ``northbridge keys`` (the gateway reads them)."""

from redis import Redis

from northbridge_shared.api_keys import KEYS, ApiKey, digest, new_key


def create(redis: Redis, client: str, endpoints: tuple[str, ...] = ()) -> tuple[str, ApiKey]:
    """Store a new key for ``client``; its token, which only this answer shows, and record."""
    token, key = new_key(client, endpoints)
    redis.hset(KEYS, digest(token), key.encode())
    return token, key


def listed(redis: Redis) -> list[ApiKey]:
    """Every key, by client then creation."""
    records = redis.hvals(KEYS)
    return sorted((ApiKey.decode(r) for r in records), key=lambda k: (k.client, k.created))


def revoke(redis: Redis, key_id: str) -> ApiKey | None:
    """Delete the key with this id; the key, or None if there was none."""
    for token_digest, record in redis.hgetall(KEYS).items():
        key = ApiKey.decode(record)
        if key.id == key_id:
            redis.hdel(KEYS, token_digest)
            return key
    return None
