"""Record crypto: the known-answer vectors of docs/protocol.md §5.1-5.4, our pinned crypto/keys
vector, and properties over arbitrary records and single-byte tampering.

§ numbers refer to docs/protocol.md."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import beacon
from beacon import (
    CollectionKeys,
    KeyBundle,
    KeyMismatchError,
    ProtocolViolation,
    RecordIntegrityError,
    UsageError,
    client_state,
    decrypt_record,
    encrypt_record,
    key_id,
)
from beacon._crypto import _hkdf_oldsync, parse_key_id

# §5.1 (fxa-crypto-relier ScopedKeys test vector)
KB = bytes.fromhex("eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9")
KSYNC_B64URL = (
    "DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang"
)
ROOT = KeyBundle.from_kb(KB)


def b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def envelope(payload: str) -> dict[str, str]:
    obj = json.loads(payload)
    assert isinstance(obj, dict)
    return obj


def counting_rng() -> Callable[[int], bytes]:
    """A deterministic rng: successive calls return 01 01 .., 02 02 .., 03 03 .., ..."""
    state = {"n": 0}

    def rng(size: int) -> bytes:
        state["n"] += 1
        return bytes([state["n"]]) * size

    return rng


# --- §5.1: kB → kSync, X-KeyID, X-Client-State ------------------------------------------------


def test_kb_derives_the_published_ksync() -> None:
    ksync = base64.urlsafe_b64decode(KSYNC_B64URL + "==")
    assert ROOT.encryption_key + ROOT.hmac_key == ksync
    assert KeyBundle.from_ksync(ksync) == ROOT


def test_kb_derives_the_documented_encryption_and_hmac_keys() -> None:
    assert ROOT.encryption_key.hex() == (
        "0d6fe59791b05fa489e463ea25502e3143f6b7a903aa152e95cd9c6eddbac5b4"
    )
    assert ROOT.hmac_key.hex() == (
        "dc68a19097ef65dbd147010ee45222444e66b8b3d7c8a441ebb7dd3dce015a9e"
    )
    assert ROOT.to_b64() == [
        "DW/ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbQ=",
        "3GihkJfvZdvRRwEO5FIiRE5muLPXyKRB67fdPc4BWp4=",
    ]


def test_key_id_matches_the_published_kid() -> None:
    assert key_id(KB, 1510726317123) == "1510726317123-IqQv4onc7VcVE1kTQkyyOw"


def test_client_state_is_lowercase_hex_of_the_first_16_bytes_of_sha256_kb() -> None:
    assert client_state(KB) == "22a42fe289dced5715135913424cb23b"


def test_key_id_tail_is_the_client_state_in_base64url() -> None:
    stamp, state = parse_key_id(key_id(KB, 1510726317123))
    assert (stamp, state) == (1510726317123, client_state(KB))


@pytest.mark.parametrize("bad", [b"", bytes(16), bytes(33), "0" * 32])
def test_kb_of_the_wrong_size_or_type_is_a_usage_error(bad: Any) -> None:
    with pytest.raises(UsageError):
        KeyBundle.from_kb(bad)
    with pytest.raises(UsageError):
        client_state(bad)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1234"])
def test_key_id_refuses_a_bad_timestamp(bad: Any) -> None:
    with pytest.raises(UsageError):
        key_id(KB, bad)


# --- §5.2: the storageformat5 HKDF example (16-byte master key) -------------------------------


def test_hkdf_matches_the_storageformat5_sync_key_bundle_example() -> None:
    okm = _hkdf_oldsync(bytes.fromhex("c71aa7cbd8b82a8ff6eda55c39479fd2"))
    assert okm.hex() == (
        "36ae05317f08eaa6f12c72633d6f9a1162cbbf9300a6728730db48643af73342"
        "a65574d6685dbf65a735912d272ee1ebe98c867428fb54616deae7bb7bc23dcc"
    )
    bundle = KeyBundle.from_ksync(okm)
    assert bundle.encryption_key.hex() == (
        "36ae05317f08eaa6f12c72633d6f9a1162cbbf9300a6728730db48643af73342"
    )
    assert bundle.hmac_key.hex() == (
        "a65574d6685dbf65a735912d272ee1ebe98c867428fb54616deae7bb7bc23dcc"
    )


# --- §5.3: the storageformat5 record-encryption example --------------------------------------

SF5 = KeyBundle(
    bytes.fromhex("d3af449d2dc4b432b8cb5b59d40c8a5fe53b584b16469f5b44828b756ffb6a81"),
    bytes.fromhex("2c5d98092d500a048d09fd01090bd0d3a4861fc8ea2438bd74a8f43be6f47f02"),
)
SF5_IV = bytes.fromhex("375a12d6de4ef26b735f6fccfbafff2d")
SF5_HMAC = "b5d1479ae2019663d6572b8e8a734e5f06c1602a0cd0becb87ca81501a08fa55"


def test_storageformat5_example_ciphertext_and_hmac() -> None:
    # The example encrypts the bare text "SECRET MESSAGE", not a JSON record, so check the
    # envelope fields directly against the primitives beneath encrypt_record.
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    padder = padding.PKCS7(128).padder()
    padded = padder.update(b"SECRET MESSAGE") + padder.finalize()
    enc = Cipher(algorithms.AES(SF5.encryption_key), modes.CBC(SF5_IV)).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    assert ciphertext.hex() == "c1c82acc436de625edf7feca3c9deb4c"
    assert base64.b64encode(ciphertext) == b"wcgqzENt5iXt9/7KPJ3rTA=="
    from beacon._crypto import _mac_hex

    assert _mac_hex(SF5, "wcgqzENt5iXt9/7KPJ3rTA==") == SF5_HMAC


def test_storageformat5_example_envelope_verifies_then_fails_as_json() -> None:
    # The HMAC verifies and the text decrypts, but "SECRET MESSAGE" is not a JSON object:
    # that is an integrity failure like any other.
    payload = json.dumps(
        {"ciphertext": "wcgqzENt5iXt9/7KPJ3rTA==", "IV": base64.b64encode(SF5_IV).decode(),
         "hmac": SF5_HMAC}
    )  # fmt: skip
    with pytest.raises(RecordIntegrityError):
        decrypt_record(SF5, payload)


# --- §5.4: the application-services full record vector ---------------------------------------

AS_BUNDLE = KeyBundle.from_b64(
    ["9K/wLdXdw+nrTtXo4ZpECyHFNr4d7aYHqeg3KW9+m6Q=", "MMntEfutgLTc8FlTLQFms8/xMPmCldqPlq/QQXEjx70="]
)
AS_IV = "GX8L37AAb2FZJMzIoXlX8w=="
AS_HMAC = "b1e6c18ac30deb70236bc0d65a46f7a4dce3b8b0e02cf92182b914e3afa5eebc"
AS_CIPHERTEXT = (
    "NMsdnRulLwQsVcwxKW9XwaUe7ouJk5Wn80QhbD80l0HEcZGCynh45qIbeYBik0lgcHbKmlIxTJNwU+OeqipN+/j7Mqhj"
    "KOGIlvbpiPQQLC6/ffF2vbzL0nzMUuSyvaQzyGGkSYM2xUFt06aNivoQTvU2GgGmUK6MvadoY38hhW2LCMkoZcNfgCqJ"
    "26lO1O0sEO6zHsk3IVz6vsKiJ2Hq6VCo7hu123wNegmujHWQSGyf8JeudZjKzfi0OFRRvvm4QAKyBWf0MgrW1F8SFDnV"
    "fkq8amCB7NhdwhgLWbN+21NitNwWYknoEWe1m6hmGZDgDT32uxzWxCV8QqqrpH/ZggViEr9uMgoy4lYaWqP7G5WKvvec"
    "hc62aqnsNEYhH26A5QgzmlNyvB+KPFvPsYzxDnSCjOoRSLx7GG86wT59QZw="
)
AS_CLEARTEXT = (
    "eyJpZCI6IjVxUnNnWFdSSlpYciIsImhpc3RVcmkiOiJmaWxlOi8vL1VzZXJzL2phc29uL0xpYnJhcnkvQXBwbGljYXRp"
    "b24lMjBTdXBwb3J0L0ZpcmVmb3gvUHJvZmlsZXMva3NnZDd3cGsuTG9jYWxTeW5jU2VydmVyL3dlYXZlL2xvZ3MvIiwi"
    "dGl0bGUiOiJJbmRleCBvZiBmaWxlOi8vL1VzZXJzL2phc29uL0xpYnJhcnkvQXBwbGljYXRpb24gU3VwcG9ydC9GaXJl"
    "Zm94L1Byb2ZpbGVzL2tzZ2Q3d3BrLkxvY2FsU3luY1NlcnZlci93ZWF2ZS9sb2dzLyIsInZpc2l0cyI6W3siZGF0ZSI6"
    "MTMxOTE0OTAxMjM3MjQyNSwidHlwZSI6MX1dfQ=="
)
AS_PAYLOAD = json.dumps({"ciphertext": AS_CIPHERTEXT, "IV": AS_IV, "hmac": AS_HMAC})


def test_application_services_record_decrypts_to_the_published_cleartext() -> None:
    expected = json.loads(b64d(AS_CLEARTEXT))
    assert len(b64d(AS_CLEARTEXT)) == 304
    record = decrypt_record(AS_BUNDLE, AS_PAYLOAD, bso_id="5qRsgXWRJZXr")
    assert record == expected
    assert record["visits"] == [{"date": 1319149012372425, "type": 1}]


def test_application_services_record_reencrypts_to_the_published_ciphertext() -> None:
    # Re-encrypting the exact published cleartext bytes under the same IV must reproduce the
    # published ciphertext and hmac; this pins AES-CBC, PKCS#7 and the HMAC input.
    cleartext = json.loads(b64d(AS_CLEARTEXT))
    payload = envelope(encrypt_record(AS_BUNDLE, cleartext, iv=b64d(AS_IV)))
    # Our JSON rendering of the record is byte-identical to the published one.
    assert payload == {"ciphertext": AS_CIPHERTEXT, "IV": AS_IV, "hmac": AS_HMAC}


def test_an_uppercase_hmac_is_accepted_but_mixed_case_is_not() -> None:
    upper = json.dumps({"ciphertext": AS_CIPHERTEXT, "IV": AS_IV, "hmac": AS_HMAC.upper()})
    assert decrypt_record(AS_BUNDLE, upper)["id"] == "5qRsgXWRJZXr"
    mixed = AS_HMAC[:-1] + AS_HMAC[-1].upper()
    assert mixed != AS_HMAC
    with pytest.raises(RecordIntegrityError):
        decrypt_record(
            AS_BUNDLE, json.dumps({"ciphertext": AS_CIPHERTEXT, "IV": AS_IV, "hmac": mixed})
        )


def test_a_record_under_the_wrong_bundle_fails_integrity() -> None:
    with pytest.raises(RecordIntegrityError):
        decrypt_record(ROOT, AS_PAYLOAD)


def test_a_cleartext_id_that_differs_from_the_bso_id_fails_integrity() -> None:
    with pytest.raises(RecordIntegrityError):
        decrypt_record(AS_BUNDLE, AS_PAYLOAD, bso_id="otherotherot")


def test_a_tombstone_without_an_id_is_accepted_for_any_bso_id() -> None:
    payload = encrypt_record(ROOT, {"deleted": True})
    assert decrypt_record(ROOT, payload, bso_id="abcdefghijkl") == {"deleted": True}


# --- the envelope and its failures -----------------------------------------------------------


def test_encrypt_draws_a_fresh_iv_from_the_injected_rng() -> None:
    payload = envelope(encrypt_record(ROOT, {"id": "a"}, rng=lambda n: b"\x07" * n))
    assert b64d(payload["IV"]) == b"\x07" * 16
    assert set(payload) == {"ciphertext", "IV", "hmac"}


def test_encrypt_and_decrypt_need_a_key_bundle() -> None:
    with pytest.raises(UsageError):
        encrypt_record(KB, {"id": "a"})  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        decrypt_record(ROOT.to_b64(), AS_PAYLOAD)  # type: ignore[arg-type]


def test_encrypt_refuses_bad_arguments() -> None:
    with pytest.raises(UsageError):
        encrypt_record(ROOT, {"id": "a"}, iv=bytes(15))
    with pytest.raises(UsageError):
        encrypt_record(ROOT, {"x": object()})
    with pytest.raises(UsageError):
        encrypt_record(ROOT, {"x": float("nan")})
    with pytest.raises(UsageError):
        encrypt_record(ROOT, ["not", "a", "mapping"])  # type: ignore[arg-type]


def _forged(bundle: KeyBundle, plaintext: bytes, *, pad: bool = True) -> str:
    """A correctly MACed envelope around arbitrary plaintext bytes."""
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from beacon._crypto import _mac_hex

    if pad:
        padder = padding.PKCS7(128).padder()
        plaintext = padder.update(plaintext) + padder.finalize()
    iv = bytes(range(16))
    enc = Cipher(algorithms.AES(bundle.encryption_key), modes.CBC(iv)).encryptor()
    ct = base64.b64encode(enc.update(plaintext) + enc.finalize()).decode()
    return json.dumps(
        {"ciphertext": ct, "IV": base64.b64encode(iv).decode(), "hmac": _mac_hex(bundle, ct)}
    )


BAD_PAYLOADS = {
    "not json": "{nope",
    "json array": "[]",
    "missing hmac": json.dumps({"ciphertext": AS_CIPHERTEXT, "IV": AS_IV}),
    "hmac not hex": json.dumps({"ciphertext": AS_CIPHERTEXT, "IV": AS_IV, "hmac": "z" * 64}),
    "hmac base64": json.dumps(
        {"ciphertext": AS_CIPHERTEXT, "IV": AS_IV, "hmac": base64.b64encode(bytes(32)).decode()}
    ),
    "ciphertext not a string": json.dumps({"ciphertext": 1, "IV": AS_IV, "hmac": AS_HMAC}),
    "non-ascii ciphertext": json.dumps({"ciphertext": "é", "IV": AS_IV, "hmac": AS_HMAC}),
    "iv not base64": json.dumps({"ciphertext": AS_CIPHERTEXT, "IV": "!!!!", "hmac": AS_HMAC}),
    "iv too short": json.dumps(
        {"ciphertext": AS_CIPHERTEXT, "IV": base64.b64encode(bytes(8)).decode(), "hmac": AS_HMAC}
    ),
    "iv not canonical base64": json.dumps(
        {"ciphertext": AS_CIPHERTEXT, "IV": AS_IV[:21] + "x==", "hmac": AS_HMAC}
    ),
}


@pytest.mark.parametrize("payload", BAD_PAYLOADS.values(), ids=BAD_PAYLOADS.keys())
def test_every_malformed_envelope_is_one_integrity_error(payload: str) -> None:
    with pytest.raises(RecordIntegrityError):
        decrypt_record(AS_BUNDLE, payload)


FORGED = {
    "bad padding": _forged(ROOT, bytes(16), pad=False),
    "not utf-8": _forged(ROOT, b"\xff\xfe"),
    "not json": _forged(ROOT, b"SECRET MESSAGE"),
    "json but not an object": _forged(ROOT, b"[1, 2]"),
    "deeply nested": _forged(ROOT, b"[" * 100_000 + b"]" * 100_000),
}


@pytest.mark.parametrize("payload", FORGED.values(), ids=FORGED.keys())
def test_an_authentic_envelope_with_bad_plaintext_is_an_integrity_error(payload: str) -> None:
    with pytest.raises(RecordIntegrityError):
        decrypt_record(ROOT, payload)


def test_a_ciphertext_that_is_not_whole_blocks_is_an_integrity_error() -> None:
    from beacon._crypto import _mac_hex

    ct = base64.b64encode(bytes(17)).decode()
    payload = json.dumps({"ciphertext": ct, "IV": AS_IV, "hmac": _mac_hex(ROOT, ct)})
    with pytest.raises(RecordIntegrityError):
        decrypt_record(ROOT, payload)


def test_integrity_errors_carry_one_fixed_message_and_no_cause() -> None:
    messages = set()
    for payload in [*BAD_PAYLOADS.values(), *FORGED.values(), AS_PAYLOAD]:
        bundle = AS_BUNDLE if payload in BAD_PAYLOADS.values() else ROOT
        with pytest.raises(RecordIntegrityError) as caught:
            decrypt_record(bundle, payload)
        # No chained exception: a JSONDecodeError would carry the plaintext in .doc.
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None
        messages.add(str(caught.value))
    assert messages == {"record failed integrity verification"}


# --- KeyBundle -------------------------------------------------------------------------------


def test_key_bundle_repr_and_str_show_no_key_material() -> None:
    shown = repr(ROOT) + str(ROOT) + repr(CollectionKeys(ROOT, {"tabs": SF5}))
    for key in (ROOT.encryption_key, ROOT.hmac_key, SF5.encryption_key, SF5.hmac_key):
        for rendering in (key.hex(), base64.b64encode(key).decode(), repr(key)[2:20]):
            assert rendering not in shown
    assert "tabs" in shown


def test_key_bundles_compare_by_their_keys() -> None:
    assert KeyBundle.from_kb(KB) == ROOT
    assert hash(KeyBundle.from_kb(KB)) == hash(ROOT)
    assert ROOT != SF5
    assert KeyBundle(ROOT.encryption_key, SF5.hmac_key) != ROOT
    assert ROOT != "not a bundle"


def test_key_bundles_are_frozen() -> None:
    with pytest.raises(AttributeError):
        ROOT.hmac_key = bytes(32)  # type: ignore[misc]


@pytest.mark.parametrize(
    "pair",
    [
        ["AAAA"],
        "ab",
        [1, 2],
        ["!!!!", base64.b64encode(bytes(32)).decode()],
        [base64.b64encode(bytes(31)).decode(), base64.b64encode(bytes(32)).decode()],
        ["é", "é"],
        5,
        None,
        {"a": 1, "b": 2},
    ],
)
def test_from_b64_refuses_anything_but_two_32_byte_base64_keys(pair: Any) -> None:
    with pytest.raises(UsageError):
        KeyBundle.from_b64(pair)


def test_generate_draws_two_keys_from_the_rng() -> None:
    bundle = KeyBundle.generate(rng=counting_rng())
    assert (bundle.encryption_key, bundle.hmac_key) == (b"\x01" * 32, b"\x02" * 32)
    assert KeyBundle.generate() != KeyBundle.generate()


def test_from_b64_round_trips_to_b64() -> None:
    assert KeyBundle.from_b64(ROOT.to_b64()) == ROOT


# --- crypto/keys -----------------------------------------------------------------------------

PINNED_KEYS = CollectionKeys(
    KeyBundle(b"\x01" * 32, b"\x02" * 32), {"bookmarks": KeyBundle(b"\x03" * 32, b"\x04" * 32)}
)
PINNED_IV = bytes(range(16))
# Our own vector (docs/protocol.md §5.8 [REC]): kB of §5.1, the keys above, IV 00 01 .. 0f.
PINNED_KEYS_PAYLOAD = (
    '{"ciphertext":"dKkTQNFg9F+Z602pCbJBx7lPlmuk2t9uHyMcwNsmmCySGmunatyExeTiNQ6umiaB/6rlScMUxhhfudI'
    "6un1Ax6G1Yz/dM+HdqM9LzMd+JFg5rUKDmjMXBQ32orJ30tIs3u/qM8m8o1oq79+Wlc2Y8yJQmK4spQpuqNsmTBXpE4Q"
    "R94T1ccqxEdjTubJ+SWOGXNMzC+O8qtIeWF3cEYDkyCJ4ctNdjAnQa2n51yq/FThKeHxKlSp9+jkeH095PZjfKZWNTah"
    "YZSZ+ucld4UveUv1IT9ZIkNv7zGx2VrhJJo60uVACPLRf8D0xWyEwgRHK+8eZeJMT4mKNJjcGRzehJJ42KiACgH+BP2ER"
    'GVcwe7M=","IV":"AAECAwQFBgcICQoLDA0ODw==",'
    '"hmac":"38165c6de6e636e30163e9ade7a5c3f6da05de98b8c96eefc9c374f425c460a6"}'
)


def test_pinned_crypto_keys_vector_encrypts_to_the_pinned_payload() -> None:
    assert PINNED_KEYS.encrypt(ROOT, iv=PINNED_IV) == PINNED_KEYS_PAYLOAD


def test_pinned_crypto_keys_vector_decrypts_under_kb() -> None:
    keys = CollectionKeys.decrypt(ROOT, PINNED_KEYS_PAYLOAD)
    assert keys == PINNED_KEYS
    assert keys.bundle_for("bookmarks") == KeyBundle(b"\x03" * 32, b"\x04" * 32)
    assert keys.bundle_for("history") == keys.default
    assert decrypt_record(ROOT, PINNED_KEYS_PAYLOAD) == {
        "id": "keys",
        "collection": "crypto",
        "default": [
            base64.b64encode(b"\x01" * 32).decode(),
            base64.b64encode(b"\x02" * 32).decode(),
        ],
        "collections": {
            "bookmarks": [
                base64.b64encode(b"\x03" * 32).decode(),
                base64.b64encode(b"\x04" * 32).decode(),
            ]
        },
    }


def test_generate_draws_the_default_then_each_collection_from_the_rng() -> None:
    assert CollectionKeys.generate(["bookmarks"], rng=counting_rng()) == PINNED_KEYS


def test_crypto_keys_under_another_kb_is_a_key_mismatch() -> None:
    other_root = KeyBundle.from_kb(bytes(32))
    with pytest.raises(KeyMismatchError):
        CollectionKeys.decrypt(other_root, PINNED_KEYS_PAYLOAD)


@pytest.mark.parametrize(
    "cleartext",
    [
        {"id": "keys", "collection": "crypto"},
        {"id": "keys", "default": ["AAAA", "AAAA"]},
        {"id": "other", "default": PINNED_KEYS.default.to_b64()},
        {"id": "keys", "collection": "meta", "default": PINNED_KEYS.default.to_b64()},
        {"default": PINNED_KEYS.default.to_b64(), "collections": ["bookmarks"]},
        {"default": PINNED_KEYS.default.to_b64(), "collections": {"tabs": "AAAA"}},
        {"default": 5},
        {"default": None},
    ],
)
def test_verified_crypto_keys_with_a_bad_shape_is_a_protocol_violation(
    cleartext: dict[str, Any],
) -> None:
    with pytest.raises(ProtocolViolation):
        CollectionKeys.decrypt(ROOT, encrypt_record(ROOT, cleartext))


def test_crypto_keys_with_a_malformed_envelope_is_an_integrity_error() -> None:
    with pytest.raises(RecordIntegrityError):
        CollectionKeys.decrypt(ROOT, "not json")


def test_changed_collections_names_engines_whose_effective_bundle_changed() -> None:
    old = PINNED_KEYS
    new_default = CollectionKeys(KeyBundle(b"\x09" * 32, b"\x02" * 32), old.collections)
    engines = ["bookmarks", "history", "tabs"]
    assert old.changed_collections(old, engines) == set()
    assert old.changed_collections(new_default, engines) == {"history", "tabs"}
    dropped = CollectionKeys(old.default, {})
    assert old.changed_collections(dropped, engines) == {"bookmarks"}


def test_collection_keys_are_read_only() -> None:
    with pytest.raises(TypeError):
        PINNED_KEYS.collections["tabs"] = ROOT  # type: ignore[index]


def test_collection_keys_refuse_non_bundles() -> None:
    with pytest.raises(UsageError):
        CollectionKeys("nope")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        CollectionKeys(ROOT, {"tabs": "nope"})  # type: ignore[dict-item]


def test_public_names_are_exported() -> None:
    for name in ("KeyBundle", "CollectionKeys", "key_id", "client_state"):
        assert name in beacon.__all__


# --- properties ------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
records = st.dictionaries(st.text(), json_values, max_size=6)
bundles = st.builds(
    KeyBundle, st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32)
)
ivs = st.binary(min_size=16, max_size=16)


@given(bundle=bundles, record=records, iv=ivs)
def test_decrypt_inverts_encrypt_for_any_json_record(
    bundle: KeyBundle, record: dict[str, Any], iv: bytes
) -> None:
    assert decrypt_record(bundle, encrypt_record(bundle, record, iv=iv)) == record


def _mutate_decoded(text: str, index: int, delta: int, *, hexed: bool = False) -> str:
    raw = bytearray(bytes.fromhex(text) if hexed else b64d(text))
    raw[index % len(raw)] ^= delta
    return raw.hex() if hexed else base64.b64encode(bytes(raw)).decode()


def _mutate_text(text: str, index: int, replacement: str) -> str:
    i = index % len(text)
    return text[:i] + replacement + text[i + 1 :]


def _swap(payload: str, field: str, value: str) -> str:
    obj = envelope(payload)
    obj[field] = value
    return json.dumps(obj)


FIXED_ID = "abcdefghijkl"
mutations = st.tuples(st.integers(min_value=0), st.integers(min_value=1, max_value=255))
replacement_chars = st.characters(codec="utf-8")


@given(record=records, iv=ivs, field=st.sampled_from(["ciphertext", "hmac"]), mutation=mutations)
def test_changing_any_decoded_byte_of_ciphertext_or_hmac_is_an_integrity_error(
    record: dict[str, Any], iv: bytes, field: str, mutation: tuple[int, int]
) -> None:
    payload = encrypt_record(ROOT, record, iv=iv)
    original = envelope(payload)[field]
    changed = _mutate_decoded(original, *mutation, hexed=field == "hmac")
    assert changed != original
    with pytest.raises(RecordIntegrityError):
        decrypt_record(ROOT, _swap(payload, field, changed))


@given(
    record=records,
    iv=ivs,
    field=st.sampled_from(["ciphertext", "IV", "hmac"]),
    index=st.integers(min_value=0),
    replacement=replacement_chars,
)
def test_changing_any_character_of_ciphertext_iv_or_hmac_text_is_an_integrity_error(
    record: dict[str, Any], iv: bytes, field: str, index: int, replacement: str
) -> None:
    payload = encrypt_record(ROOT, record, iv=iv)
    original = envelope(payload)[field]
    changed = _mutate_text(original, index, replacement)
    if changed == original:
        return  # not a change
    if field == "IV":
        try:
            decoded = b64d(changed)
        except ValueError:
            decoded = b""
        if len(decoded) == 16:
            # A different, canonical IV text is a changed IV byte: covered by the test below.
            return
    with pytest.raises(RecordIntegrityError):
        decrypt_record(ROOT, _swap(payload, field, changed))


@given(record=records, iv=ivs, mutation=mutations)
def test_changing_any_iv_byte_never_yields_the_original_record(
    record: dict[str, Any], iv: bytes, mutation: tuple[int, int]
) -> None:
    # Sync 1.5's HMAC does not cover the IV (docs/protocol.md §4.2), so a changed IV byte
    # changes the first plaintext block instead of failing the MAC. With the record id first
    # and bso_id given, every such change is either refused or visibly a different record.
    full = {"id": FIXED_ID, **{k: v for k, v in record.items() if k != "id"}}
    payload = encrypt_record(ROOT, full, iv=iv)
    changed = _mutate_decoded(envelope(payload)["IV"], *mutation)
    try:
        result = decrypt_record(ROOT, _swap(payload, "IV", changed), bso_id=FIXED_ID)
    except RecordIntegrityError:
        return
    assert result != full


def test_a_changed_iv_byte_inside_the_id_is_caught_only_through_bso_id() -> None:
    # Documents the format's weakness: byte 10 of the first block is inside the id string.
    record = {"id": FIXED_ID, "title": "x"}
    payload = encrypt_record(ROOT, record, iv=PINNED_IV)
    tampered = _swap(payload, "IV", _mutate_decoded(envelope(payload)["IV"], 10, 0x01))
    assert decrypt_record(ROOT, tampered)["id"] != FIXED_ID
    with pytest.raises(RecordIntegrityError):
        decrypt_record(ROOT, tampered, bso_id=FIXED_ID)
