"""API keys: random tokens, only their digest kept, a record that says who and where."""

import pytest

from northbridge_shared.api_keys import TOKEN_PREFIX, ApiKey, digest, is_client_id, new_key


def test_a_new_key_is_random_and_its_record_holds_no_token() -> None:
    token, key = new_key("shop-1", ("/v1/North",))
    other, _ = new_key("shop-1")
    assert token.startswith(TOKEN_PREFIX)
    assert len(token) == len(TOKEN_PREFIX) + 43  # 32 random bytes, URL-safe base64
    assert token != other
    assert token not in key.encode()
    assert ApiKey.decode(key.encode()) == key


def test_the_digest_is_sha256_hex() -> None:
    assert digest("nbk_x") == digest("nbk_x")
    assert len(digest("nbk_x")) == 64
    assert digest("nbk_x") != digest("nbk_y")


def test_a_key_without_endpoints_may_post_anywhere() -> None:
    _, anywhere = new_key("a")
    _, north = new_key("b", ("/v1/North",))
    assert anywhere.allows("/v1/South")
    assert north.allows("/v1/North")
    assert not north.allows("/v1/South")


@pytest.mark.parametrize("client", ["", "-lead", "has space", "a" * 65, "naïve", "x\ny"])
def test_client_ids_are_short_and_plain(client: str) -> None:
    assert not is_client_id(client)
    with pytest.raises(ValueError, match="is not a client id"):
        new_key(client)
