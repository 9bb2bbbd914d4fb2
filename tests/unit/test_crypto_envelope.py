"""The envelope read fast or careful answers the same: extra fields of any kind are ignored,
a deep or malformed envelope is an integrity failure, never an exception of the parser's."""

from __future__ import annotations

import json

import pytest

from beacon._crypto import KeyBundle, decrypt_record, encrypt_record
from beacon._errors import RecordIntegrityError

BUNDLE = KeyBundle.from_kb(bytes(range(32)))
CLEARTEXT = {"id": "abc", "title": "a note"}


def _with(extra: dict[str, object]) -> str:
    return json.dumps({**json.loads(encrypt_record(BUNDLE, CLEARTEXT)), **extra})


@pytest.mark.parametrize(
    "extra",
    [{}, {"note": "text"}, {"version": 1}, {"flags": [1, 2]}, {"meta": {"a": None}}],
)
def test_an_envelope_with_extra_fields_of_any_kind_still_decrypts(extra: dict[str, object]) -> None:
    # Only flat objects of strings take the fast read; the others must reach the same answer.
    assert decrypt_record(BUNDLE, _with(extra)) == CLEARTEXT


@pytest.mark.parametrize(
    "payload",
    ["", "not json", "[]", '"a string"', "{", '{"ciphertext": 1, "IV": 2, "hmac": 3}'],
)
def test_an_envelope_that_is_not_an_object_of_the_three_strings_fails_integrity(
    payload: str,
) -> None:
    with pytest.raises(RecordIntegrityError):
        decrypt_record(BUNDLE, payload)


def test_an_envelope_nested_past_the_parsers_bound_fails_integrity() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    payload = json.loads(encrypt_record(BUNDLE, CLEARTEXT))
    text = json.dumps(payload)[:-1] + f', "deep": {deep}}}'
    with pytest.raises(RecordIntegrityError):
        decrypt_record(BUNDLE, text)
