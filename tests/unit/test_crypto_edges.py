"""Edges of the key-id and crypto/keys parsers that mutation testing found untested.

``make mutate`` over ``beacon/_crypto.py`` left these mutants alive: a key id split at its last
``-`` (a base64url tail may hold one), the 19-digit timestamp bound moved, the defaults that
let a crypto/keys cleartext omit ``id``, ``collection`` and ``collections``, and every error
message (each names what is wrong; a reworded one is a changed interface).
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from beacon import ProtocolViolation, UsageError
from beacon._crypto import (
    CollectionKeys,
    KeyBundle,
    SyncKey,
    client_state,
    key_id,
    parse_key_id,
)

KB = bytes(32)


def _pair(seed: int) -> list[str]:
    return [
        base64.b64encode(bytes([seed]) * 32).decode(),
        base64.b64encode(bytes([seed + 1]) * 32).decode(),
    ]


def test_a_key_id_whose_base64url_tail_holds_a_dash_splits_at_the_first_dash() -> None:
    kid = key_id(KB, 1234)
    assert "-" in kid.partition("-")[2]  # this kB's tail has one: the case that matters
    assert parse_key_id(kid) == (1234, client_state(KB))


def test_a_key_id_timestamp_may_have_19_digits_but_not_20() -> None:
    tail = key_id(KB, 0).partition("-")[2]
    assert parse_key_id(f"{'9' * 19}-{tail}")[0] == int("9" * 19)
    with pytest.raises(UsageError, match=r"^malformed X-KeyID$"):
        parse_key_id(f"{'1' * 20}-{tail}")


@pytest.mark.parametrize("bad", ["1234", "12a4-AAAA", "-AAAA", "١٢-AAAA", "12-A", 12])
def test_a_malformed_key_id_says_so(bad: Any) -> None:
    with pytest.raises(UsageError, match=r"^malformed X-KeyID$"):
        parse_key_id(bad)


def test_a_crypto_keys_cleartext_may_leave_out_id_collection_and_collections() -> None:
    keys = CollectionKeys.from_cleartext({"default": _pair(1)})
    assert keys.default == KeyBundle.from_b64(_pair(1))
    assert keys.bundle_for("bookmarks") == keys.default


@pytest.mark.parametrize(
    "record",
    [
        {"id": "other", "default": _pair(1)},
        {"collection": "meta", "default": _pair(1)},
    ],
)
def test_a_crypto_keys_cleartext_of_another_record_is_refused(record: dict[str, Any]) -> None:
    with pytest.raises(
        ProtocolViolation, match=r"^crypto/keys cleartext has the wrong id or collection$"
    ):
        CollectionKeys.from_cleartext(record)


def test_crypto_keys_collections_must_be_an_object() -> None:
    with pytest.raises(ProtocolViolation, match=r"^crypto/keys 'collections' is not an object$"):
        CollectionKeys.from_cleartext({"default": _pair(1), "collections": [_pair(3)]})


@pytest.mark.parametrize(
    "record",
    [
        {},  # no default at all
        {"default": _pair(1)[:1]},
        {"default": _pair(1), "collections": {"bookmarks": ["!!", "??"]}},
    ],
)
def test_a_malformed_key_pair_in_crypto_keys_is_a_protocol_violation(
    record: dict[str, Any],
) -> None:
    with pytest.raises(ProtocolViolation, match=r"^crypto/keys holds a malformed key pair$"):
        CollectionKeys.from_cleartext(record)


def _bundle(seed: int) -> KeyBundle:
    return KeyBundle.from_b64(_pair(seed))


def test_a_key_bundles_repr_hides_its_keys() -> None:
    assert repr(_bundle(1)) == "KeyBundle(<keys hidden>)"


def test_equal_key_bundles_hash_alike_and_different_ones_apart() -> None:
    assert hash(_bundle(1)) == hash(_bundle(1))
    assert hash(_bundle(1)) != hash(_bundle(3))


@pytest.mark.parametrize("which", [0, 1])
def test_a_key_pair_with_either_key_not_base64_is_refused(which: int) -> None:
    pair = _pair(1)
    pair[which] = "not base64!"
    with pytest.raises(UsageError, match=r"^a key in the pair is not a valid base64 string$"):
        KeyBundle.from_b64(pair)


@pytest.mark.parametrize("pair", [["only one"], "ab", None, [1, 2, 3]])
def test_a_key_pair_that_is_not_two_strings_is_refused(pair: Any) -> None:
    with pytest.raises(UsageError, match=r"^a key pair must be a list of two base64 strings$"):
        KeyBundle.from_b64(pair)


def test_collection_keys_differing_only_in_a_collection_are_not_equal() -> None:
    plain = CollectionKeys(_bundle(1), {})
    with_bookmarks = CollectionKeys(_bundle(1), {"bookmarks": _bundle(3)})
    assert plain != with_bookmarks
    assert plain == CollectionKeys(_bundle(1), {})


def test_collection_keys_need_a_key_bundle_as_default() -> None:
    with pytest.raises(UsageError, match=r"^the default must be a KeyBundle$"):
        CollectionKeys(_pair(1), {})  # type: ignore[arg-type]


def test_crypto_keys_are_encrypted_with_the_randomness_given() -> None:
    keys, root = CollectionKeys(_bundle(1), {}), _bundle(5)
    fixed = lambda n: bytes(n)  # noqa: E731 - a deterministic rng for the IV
    assert keys.encrypt(root, rng=fixed) == keys.encrypt(root, rng=fixed)
    assert CollectionKeys.decrypt(root, keys.encrypt(root, rng=fixed)) == keys


def test_crypto_keys_under_another_root_say_which_key_failed() -> None:
    payload = CollectionKeys(_bundle(1), {}).encrypt(_bundle(5))
    from beacon import KeyMismatchError

    with pytest.raises(
        KeyMismatchError, match=r"^crypto/keys does not verify under the key bundle from kB$"
    ):
        CollectionKeys.decrypt(_bundle(7), payload)


# -- SyncKey.of, key_id and the key checks (their tests lived in tests/fxa, out of make
# -- mutate's test selection, so every check survived there)

KSYNC = bytes(range(64))


def _kid(stamp: int = 1234, state: bytes = bytes(16)) -> str:
    return f"{stamp}-{base64.urlsafe_b64encode(state).rstrip(b'=').decode()}"


def test_a_sync_key_from_ksync_and_kid_takes_its_root_id_and_state_from_them() -> None:
    key = SyncKey.of(ksync=KSYNC, kid=_kid(state=bytes(range(16))))
    assert key.root == KeyBundle.from_ksync(KSYNC)
    assert key.root.encryption_key == KSYNC[:32]
    assert key.key_id == _kid(state=bytes(range(16)))
    assert key.client_state == bytes(range(16)).hex()


def test_a_sync_key_from_kb_matches_key_id_and_client_state() -> None:
    key = SyncKey.of(kb=KB, keys_changed_at=0)
    assert key.key_id == key_id(KB, 0)
    assert key.client_state == client_state(KB)
    assert key.root == KeyBundle.from_kb(KB)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kb": KB, "keys_changed_at": 1, "kid": _kid()}, "not both"),
        ({"kb": KB, "keys_changed_at": 1, "ksync": KSYNC}, "not both"),
        ({"kb": "x" * 32, "keys_changed_at": 1}, "kb must be 32 bytes"),
        ({"kb": bytes(31), "keys_changed_at": 1}, "kb must be 32 bytes"),
        ({"kb": KB, "keys_changed_at": True}, "keys_changed_at must be an int"),
        ({"kb": KB, "keys_changed_at": 1.0}, "keys_changed_at must be an int"),
        ({"kb": KB, "keys_changed_at": -1}, "must not be negative"),
        ({"ksync": KSYNC}, "give ksync and kid"),
        ({"kid": _kid()}, "give ksync and kid"),
        ({}, "give ksync and kid"),
        ({"ksync": KSYNC, "kid": _kid(state=bytes(15))}, "16-byte client state"),
        ({"ksync": KSYNC, "kid": _kid(state=bytes(17))}, "16-byte client state"),
        ({"ksync": KSYNC, "kid": _kid(1234), "keys_changed_at": 99}, "differs from the kid"),
        ({"ksync": bytes(63), "kid": _kid()}, "kSync must be exactly 64 bytes"),
        ({"ksync": "x" * 64, "kid": _kid()}, "kSync must be exactly 64 bytes"),
    ],
)
def test_a_sync_key_of_the_wrong_shape_says_what_is_wrong(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        SyncKey.of(**kwargs)


def test_a_sync_key_from_ksync_may_repeat_the_kids_timestamp() -> None:
    assert SyncKey.of(ksync=KSYNC, kid=_kid(1234), keys_changed_at=1234).key_id == _kid(1234)


def test_a_key_id_at_time_zero_is_allowed_and_a_negative_time_is_not() -> None:
    assert key_id(KB, 0).startswith("0-")
    with pytest.raises(UsageError, match="must not be negative"):
        key_id(KB, -1)


@pytest.mark.parametrize("kb", [bytes(31), "x" * 32])
def test_kb_must_be_32_bytes(kb: Any) -> None:
    with pytest.raises(UsageError, match=r"^kB must be exactly 32 bytes$"):
        client_state(kb)


def test_collection_keys_refuse_a_collection_that_is_not_a_key_bundle() -> None:
    with pytest.raises(UsageError, match=r"^collections must map names to KeyBundles$"):
        CollectionKeys(_bundle(1), {"bookmarks": _pair(3)})  # type: ignore[dict-item]
    with pytest.raises(UsageError, match=r"^collections must map names to KeyBundles$"):
        CollectionKeys(_bundle(1), {3: _bundle(3)})  # type: ignore[dict-item]


# -- the record envelope (mutmut's second run, after the tests above)


@pytest.mark.parametrize("text", ["QUJD!", "QU JD", "QUJD\n", "QUJ"])
def test_strict_base64_refuses_what_a_lenient_decoder_would_accept(text: str) -> None:
    from beacon._crypto import b64decode_strict

    assert b64decode_strict(text) is None
    assert b64decode_strict("QUJD") == b"ABC"


def test_a_cleartext_with_nan_is_refused_not_written_as_invalid_json() -> None:
    from beacon._crypto import encrypt_record

    with pytest.raises(UsageError, match=r"^a record's cleartext must be JSON-serialisable$"):
        encrypt_record(_bundle(1), {"id": "x", "value": float("nan")})


def test_non_ascii_text_is_encrypted_as_utf8_not_as_escapes() -> None:
    # Firefox writes JSON.stringify's output: "é" is two UTF-8 bytes, not a six-byte escape.
    from beacon._crypto import decrypt_record, encrypt_record

    payload = encrypt_record(_bundle(1), {"id": "x", "t": "é" * 60}, iv=bytes(16))
    ciphertext = base64.b64decode(json.loads(payload)["ciphertext"])
    assert len(ciphertext) < 160  # 128 + padding as UTF-8; 368 + padding as \\u00e9 escapes
    assert decrypt_record(_bundle(1), payload)["t"] == "é" * 60


def test_collection_keys_keep_a_frozen_copy_of_their_collections() -> None:
    given = {"bookmarks": _bundle(3)}
    keys = CollectionKeys(_bundle(1), given)
    given["passwords"] = _bundle(5)
    assert set(keys.collections) == {"bookmarks"}
    with pytest.raises(TypeError):
        keys.collections["history"] = _bundle(7)  # type: ignore[index]
