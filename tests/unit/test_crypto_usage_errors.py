"""What beacon/_crypto.py tells a caller who hands it the wrong thing: each refusal is a
UsageError whose message names what was wrong (the caller fixes their call from it), and
an X-KeyID tail of any valid length decodes. Survivors of mutmut over _crypto.py
(docs/mutation.md)."""

from __future__ import annotations

import base64
from typing import Any, cast

import pytest

from beacon import UsageError
from beacon._crypto import KeyBundle, SyncKey, encrypt_record, key_id, parse_key_id

KB = bytes(range(32))
KID = key_id(KB, 1234)


def _refused(message: str, call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(UsageError) as info:
        call(*args, **kwargs)
    assert str(info.value) == message


def test_a_key_bundle_of_wrong_sizes_is_refused_naming_the_size() -> None:
    _refused("a key bundle needs two keys of exactly 32 bytes", KeyBundle, b"short", bytes(32))
    _refused("kSync must be exactly 64 bytes", KeyBundle.from_ksync, bytes(10))


def test_a_key_id_needs_a_non_negative_integer_of_milliseconds() -> None:
    message = "keys_changed_at_ms must be an integer number of milliseconds"
    _refused(message, key_id, KB, cast(int, 1.5))
    _refused(message, key_id, KB, True)
    _refused("keys_changed_at_ms must not be negative", key_id, KB, -1)


def test_sync_key_names_the_pair_it_was_given_wrong() -> None:
    both = "give kb (with keys_changed_at) or ksync with kid, not both"
    _refused(both, SyncKey.of, kb=KB, keys_changed_at=1, ksync=bytes(64))
    _refused("kb must be 32 bytes", SyncKey.of, kb=bytes(5), keys_changed_at=1)
    _refused(
        "keys_changed_at must be an int (milliseconds)",
        SyncKey.of,
        kb=KB,
        keys_changed_at=cast(int, "1"),
    )
    _refused("keys_changed_at must not be negative", SyncKey.of, kb=KB, keys_changed_at=-1)
    _refused("kb must be 32 bytes (or give ksync and kid instead)", SyncKey.of, ksync=bytes(64))
    _refused(
        "kid must end in the 16-byte client state", SyncKey.of, ksync=bytes(64), kid="1234-AAAA"
    )
    _refused(
        "keys_changed_at differs from the kid's",
        SyncKey.of,
        ksync=bytes(64),
        kid=KID,
        keys_changed_at=999,
    )


def test_encrypting_names_what_is_wrong_with_the_call() -> None:
    bundle = KeyBundle.from_kb(KB)
    message = "records are encrypted and decrypted with a KeyBundle"
    _refused(message, encrypt_record, cast(KeyBundle, "a key"), {"id": "x"})
    _refused("a record's cleartext must be a mapping", encrypt_record, bundle, cast(Any, ["x"]))
    _refused("the IV must be exactly 16 bytes", encrypt_record, bundle, {"id": "x"}, iv=b"short")


@pytest.mark.parametrize("size", [1, 7, 15, 16, 17])
def test_a_key_id_tail_of_any_valid_length_decodes(size: int) -> None:
    raw = bytes(range(size))
    tail = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    assert parse_key_id(f"42-{tail}") == (42, raw.hex())
