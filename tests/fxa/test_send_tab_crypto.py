"""The send-tab key scheme: RFC 8291's worked example byte for byte, the published-keys
envelope under kSync, and every malformed or tampered input as a beacon error."""

from __future__ import annotations

import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from beacon import ProtocolViolation, TrustError
from beacon._crypto import key_id
from beacon._scoped_keys import b64url, b64url_decode
from beacon.fxa._send_tab_crypto import (
    CommandKeys,
    PublicCommandKeys,
    decrypt_payload,
    encrypt_payload,
    open_published_keys,
    publish_keys,
)

# RFC 8291 §5 / Appendix A (https://www.rfc-editor.org/rfc/rfc8291#appendix-A).
RFC_PLAINTEXT = b"When I grow up, I want to be a watermelon"
RFC_AS_PRIVATE = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
RFC_UA_PRIVATE = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
RFC_UA_PUBLIC = (
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
)
RFC_AUTH_SECRET = "BTBZMqHH6r4Tts7J_aSIgg"
RFC_SALT = "DGv6ra1nlYgDCS1FRnbzlw"
RFC_MESSAGE = (
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmY"
    "WAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxs"
    "j_Qulcy4a-fN"
)

KSYNC = bytes(range(64))
KID = key_id(bytes(32), 1_700_000_000_000)
RNG = random.Random(3).randbytes


def _ua_keys() -> CommandKeys:
    return CommandKeys(b64url_decode(RFC_UA_PRIVATE), b64url_decode(RFC_AUTH_SECRET))


def test_the_rfc_8291_example_decrypts_to_its_plaintext() -> None:
    import http_ece

    # decrypt_payload parses JSON; the RFC's plaintext is text, so go one level down too.
    keys = _ua_keys()
    plain = http_ece.decrypt(
        b64url_decode(RFC_MESSAGE),
        private_key=keys.ec_key(),
        auth_secret=keys.auth_secret,
        version="aes128gcm",
    )
    assert plain == RFC_PLAINTEXT
    assert b64url(keys.public().public_key) == RFC_UA_PUBLIC


def test_encryption_with_the_rfc_sender_key_and_salt_gives_the_rfc_message_layout() -> None:
    sender = ec.derive_private_key(int.from_bytes(b64url_decode(RFC_AS_PRIVATE)), ec.SECP256R1())
    keys = PublicCommandKeys(b64url_decode(RFC_UA_PUBLIC), b64url_decode(RFC_AUTH_SECRET))
    payload = {"entries": [{"title": "t", "url": "https://example.com/"}]}
    message = encrypt_payload(keys, payload, ephemeral=sender, salt=b64url_decode(RFC_SALT))
    # header: salt ‖ rs = 4096 ‖ idlen = 65 ‖ the sender's public key, as in the RFC's
    assert b64url_decode(message)[:86] == b64url_decode(RFC_MESSAGE)[:86]
    assert decrypt_payload(_ua_keys(), message) == payload


def test_the_rfc_key_schedule_gives_the_rfc_ciphertext() -> None:
    import http_ece

    sender = ec.derive_private_key(int.from_bytes(b64url_decode(RFC_AS_PRIVATE)), ec.SECP256R1())
    out = http_ece.encrypt(
        RFC_PLAINTEXT,
        salt=b64url_decode(RFC_SALT),
        private_key=sender,
        dh=b64url_decode(RFC_UA_PUBLIC),
        auth_secret=b64url_decode(RFC_AUTH_SECRET),
        version="aes128gcm",
    )
    assert b64url(out) == RFC_MESSAGE


def test_published_keys_round_trip_under_ksync_and_name_the_kid() -> None:
    keys = CommandKeys.generate(rng=RNG).public()
    published = publish_keys(keys, KSYNC, KID, rng=RNG)
    bundle = json.loads(published)
    assert bundle["kid"] == "66687aadf862bd776c8fc18b8e9f8e20"  # hex of kXCS of kB = 0³²
    assert keys.to_json()["authSecret"] not in published
    assert open_published_keys(published, KSYNC, KID) == keys


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda b: {**b, "hmac": "0" * 64}, TrustError),
        (lambda b: {**b, "kid": "00" * 16}, TrustError),
        (lambda b: {k: v for k, v in b.items() if k != "IV"}, ProtocolViolation),
        (lambda b: {**b, "ciphertext": 5}, ProtocolViolation),
    ],
)
def test_a_bad_published_bundle_is_a_beacon_error(mutate: object, error: type) -> None:
    published = json.loads(publish_keys(CommandKeys.generate(rng=RNG).public(), KSYNC, KID))
    with pytest.raises(error):
        open_published_keys(json.dumps(mutate(published)), KSYNC, KID)  # type: ignore[operator]


@pytest.mark.parametrize("value", [None, 5, "not json", "[]", '{"kid": 1}'])
def test_published_data_that_is_not_the_scheme_is_a_protocol_violation(value: object) -> None:
    with pytest.raises(ProtocolViolation):
        open_published_keys(value, KSYNC, KID)


def test_published_keys_of_the_wrong_size_are_a_protocol_violation() -> None:
    short = PublicCommandKeys(b"\x04" * 10, bytes(16))
    with pytest.raises(ProtocolViolation, match="size"):
        open_published_keys(publish_keys(short, KSYNC, KID), KSYNC, KID)


@pytest.mark.parametrize("encrypted", [None, 7, "***", b64url(b"short")])
def test_an_unreadable_payload_is_a_beacon_error(encrypted: object) -> None:
    with pytest.raises((ProtocolViolation, TrustError)):
        decrypt_payload(_ua_keys(), encrypted)


def test_a_payload_for_other_keys_is_a_trust_error() -> None:
    mine, theirs = CommandKeys.generate(rng=RNG), CommandKeys.generate(rng=RNG)
    message = encrypt_payload(theirs.public(), {"entries": []}, rng=RNG)
    with pytest.raises(TrustError, match="does not decrypt"):
        decrypt_payload(mine, message)


def test_the_repr_of_keys_shows_no_key_material() -> None:
    keys = CommandKeys.generate(rng=RNG)
    shown = repr(keys) + repr(keys.public())
    assert b64url(keys.private_key) not in shown
    assert keys.private_key.hex() not in shown
    assert keys.auth_secret.hex() not in shown
