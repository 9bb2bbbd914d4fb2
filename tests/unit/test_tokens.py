"""tokenlib tokens: the storage-node vector of docs/protocol.md §5.6, mint/parse round trips,
and every way a token must be refused; X-KeyID parsing (§5.7).

§ numbers refer to docs/protocol.md."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beacon import UsageError
from beacon._crypto import parse_key_id
from beacon._tokens import TokenExpired, TokenInvalid, derive_secret, mint_token, parse_token

SECRET = "Ted Koppel is a robot"
TOKEN = (
    "eyJ1aWQiOiAxLCAibm9kZSI6ICJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCAiZXhwaXJlcyI6IDE4ODQ5Njg0MzkuMCwg"
    "ImZ4YV91aWQiOiAiMzE5Yjk4Zjk5NjFmZjFkYmRkMDczMTNjZDZiYTkyNWEiLCAiZnhhX2tpZCI6ICJkZTY5N2FkNjZk"
    "ODQ1YjI4NzNjOWQ3ZTEzYjg5NzFhZiIsICJoYXNoZWRfZnhhX3VpZCI6ICIwZThkZjVkNDEzOThhMzg5OTEzYmQ4NDAy"
    "NDM1NjQ5NTE4YWY0NjQ5M2RhMWQ0YTQzN2E0NmRjMTc4NGM1MDFhIiwgImhhc2hlZF9kZXZpY2VfaWQiOiAiMmJjYjky"
    "ZjRkNDY5OGMzZDdiMDgzYTNjNjk4YTE2Y2NkNzhiYzJhOGQyMGE5NmU0YmIxMjhkZGNlYWY0ZTBiNiIsICJzYWx0Ijog"
    "IjJiMzA3YiJ9lXaC5pIOenf7qL1AWlgKFvYH63nakyniTXP-7acS5cw="
)
TOKEN_KEY = "dSi3EoZyHwgDp-O9OG1jRHtmbGl2M1bwcWsi04C4F58="
PLAINTEXT = {
    "uid": 1,
    "node": "http://localhost:5000",
    "expires": 1884968439.0,
    "fxa_uid": "319b98f9961ff1dbdd07313cd6ba925a",
    "fxa_kid": "de697ad66d845b2873c9d7e13b8971af",
    "hashed_fxa_uid": "0e8df5d41398a389913bd8402435649518af46493da1d4a437a46dc1784c501a",
    "hashed_device_id": "2bcb92f4d4698c3d7b083a3c698a16ccd78bc2a8d20a96e4bb128ddceaf4e0b6",
    "salt": "2b307b",
}
NOW = 1569608439


def test_storage_node_token_parses_to_its_published_plaintext() -> None:
    assert parse_token(TOKEN, secret=SECRET, now=NOW) == PLAINTEXT


def test_storage_node_token_derives_the_published_hawk_key() -> None:
    assert derive_secret(TOKEN, secret=SECRET) == TOKEN_KEY


def test_minting_the_vector_plaintext_gives_the_vector_token_and_key() -> None:
    # tokenlib's JSON is json.dumps with default separators; the fixture wrote expires third.
    data = {k: v for k, v in PLAINTEXT.items() if k not in ("expires", "salt")}
    token, key = mint_token(data, secret=SECRET, expires=1884968439.0, salt="2b307b")
    assert parse_token(token, secret=SECRET, now=NOW) == PLAINTEXT
    assert key == derive_secret(token, secret=SECRET)
    assert len(key) == 44
    assert key.endswith("=")


def test_the_vector_token_is_refused_under_another_master_secret() -> None:
    with pytest.raises(TokenInvalid):
        parse_token(TOKEN, secret="wibble", now=NOW)
    with pytest.raises(TokenInvalid):
        derive_secret(TOKEN, secret="wibble")


def _with_raw(token: str, change: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[change] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [-1, -16, -32, 0, 40])
def test_changing_any_signature_or_payload_byte_is_refused(index: int) -> None:
    with pytest.raises(TokenInvalid):
        parse_token(_with_raw(TOKEN, index), secret=SECRET, now=NOW)


def test_an_expired_token_is_refused_but_carries_its_verified_payload() -> None:
    with pytest.raises(TokenExpired) as caught:
        parse_token(TOKEN, secret=SECRET, now=1884968439.0)
    assert caught.value.data == PLAINTEXT
    assert "robot" not in str(caught.value)
    assert TOKEN not in str(caught.value)
    # The key can still be derived: the node accepts expired tokens for info/collections.
    assert derive_secret(TOKEN, secret=SECRET) == TOKEN_KEY


def _signed(body: bytes, secret: str = SECRET) -> str:
    from beacon._tokens import _signing_key

    sig = hmac.new(_signing_key(secret), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + sig).decode()


BAD_TOKENS = {
    "empty": "",
    "standard base64 alphabet": TOKEN.replace("-", "+"),
    "missing padding": TOKEN.rstrip("="),
    "junk character": TOKEN[:10] + "*" + TOKEN[11:],
    "too short": base64.urlsafe_b64encode(bytes(32)).decode(),
    "not json": _signed(b"not json"),
    "json list": _signed(b"[1]"),
    "no salt": _signed(b'{"uid": 1, "expires": 2e9}'),
    "no expires": _signed(b'{"uid": 1, "salt": "abc"}'),
    "string expires": _signed(b'{"uid": 1, "salt": "abc", "expires": "2e9"}'),
    "not utf-8": _signed(b"\xff\xfe"),
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(TokenInvalid) as caught:
        parse_token(token, secret=SECRET, now=NOW)
    assert not isinstance(caught.value, TokenExpired)
    assert caught.value.__context__ is None


def test_mint_draws_a_three_byte_hex_salt_from_the_rng() -> None:
    token, _ = mint_token({"uid": 5, "node": "n"}, secret=SECRET, expires=NOW + 60,
                          rng=lambda n: b"\xab" * n)  # fmt: skip
    assert parse_token(token, secret=SECRET, now=NOW) == {
        "uid": 5,
        "node": "n",
        "expires": NOW + 60,
        "salt": "ababab",
    }


def test_tokens_with_different_salts_have_different_keys() -> None:
    a = mint_token({"uid": 1}, secret=SECRET, expires=NOW + 60, salt="aa")
    b = mint_token({"uid": 1}, secret=SECRET, expires=NOW + 60, salt="bb")
    assert a[0] != b[0]
    assert a[1] != b[1]


@pytest.mark.parametrize(
    ("data", "kwargs"),
    [
        ({"uid": 1, "expires": 5}, {}),
        ({"uid": 1, "salt": "x"}, {}),
        ({"uid": object()}, {}),
        ({"uid": 1}, {"expires": float("inf")}),
        ({"uid": 1}, {"expires": True}),
        ({"uid": 1}, {"secret": ""}),
        ({"uid": 1}, {"salt": ""}),
        ({"uid": 1}, {"salt": "é"}),
    ],
)
def test_mint_refuses_bad_arguments(data: dict[str, Any], kwargs: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"secret": SECRET, "expires": NOW + 60, **kwargs}
    with pytest.raises(UsageError):
        mint_token(data, **arguments)


def test_an_empty_secret_is_a_usage_error_when_parsing() -> None:
    with pytest.raises(UsageError):
        parse_token(TOKEN, secret="", now=NOW)


def test_token_payload_is_plain_json_covered_by_the_signature() -> None:
    raw = base64.urlsafe_b64decode(TOKEN)
    assert json.loads(raw[:-32]) == PLAINTEXT


# --- §5.7: X-KeyID parsing -------------------------------------------------------------------


def test_zero_padded_key_id_parses_to_timestamp_and_client_state() -> None:
    assert parse_key_id("0000000001234-qqo") == (1234, "aaaa")


@pytest.mark.parametrize("value", ["00000000", "0000000001234-notbase64", "notanumber-qqo",
                                   "-qqo", "12-", "1٣-qqo", "12-q"])  # fmt: skip
def test_malformed_key_ids_are_refused(value: str) -> None:
    with pytest.raises(UsageError):
        parse_key_id(value)


# --- end to end: header → token → key → MAC (§5.6) -------------------------------------------


def test_the_storage_node_chain_verifies_a_signed_request() -> None:
    # What the storage node does with the rs fixture's GET: parse the Hawk header, verify the
    # token id under the master secret, derive the key, and check the MAC.
    from beacon._hawk import compute_mac, parse_header, verify

    key = derive_secret(TOKEN, secret=SECRET)
    args: dict[str, Any] = {
        "method": "GET",
        "resource": "/storage/1.5/1/storage/col2",
        "host": "localhost",
        "port": 5000,
    }
    mac = compute_mac(key.encode(), ts=NOW, nonce="h1Ch4vo=", **args)
    header = parse_header(f'Hawk id="{TOKEN}", ts="{NOW}", nonce="h1Ch4vo=", mac="{mac}"')
    assert parse_token(header.id, secret=SECRET, now=NOW)["uid"] == 1
    verify(header, derive_secret(header.id, secret=SECRET).encode(), now=NOW, **args)


json_leaves = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
token_data = st.dictionaries(
    st.text(max_size=10).filter(lambda k: k not in ("expires", "salt")), json_leaves, max_size=5
)


@given(data=token_data, expires=st.integers(min_value=NOW + 1, max_value=2**40))
def test_any_minted_token_parses_back_to_its_data(data: dict[str, Any], expires: int) -> None:
    token, key = mint_token(data, secret=SECRET, expires=expires, rng=lambda n: b"\x01" * n)
    assert parse_token(token, secret=SECRET, now=NOW) == {
        **data,
        "expires": expires,
        "salt": "010101",
    }
    assert derive_secret(token, secret=SECRET) == key
    with pytest.raises(TokenExpired):
        parse_token(token, secret=SECRET, now=expires)
