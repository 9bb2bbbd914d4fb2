"""Every known-answer vector of docs/accounts.md §10 (onepw, Bearer ids, JWE, kSync)."""

from __future__ import annotations

import pytest

from beacon import TrustError, UsageError
from beacon._crypto import client_state
from beacon._onepw import (
    PasswordKeys,
    bearer_header,
    bundle_keys,
    hkdf,
    server_verifier,
    stretch_v1,
    stretch_v2,
    token_credentials,
    unbundle_keys,
    unwrap_kb,
)
from beacon._scoped_keys import KeysJwk, b64url, oldsync_key, pkce_challenge

H = bytes.fromhex
EMAIL = "andré@example.org"
PASSWORD = "pässwörd"
V1_STRETCHED = "e4e8889bd8bd61ad6de6b95c059d56e7b50dacdaf62bd84644af7e2add84345d"
AUTH_PW = "247b675ffb4c46310bc87e26d712153abe5e1c90ef00a4784594f97ef54f2375"
UNWRAP_B_KEY = "de6a2648b78284fcb9ffa81ba95803309cfba7af583c01a8a1a63e567234dd28"
KEY_FETCH_TOKEN = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
KA = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
WRAP_KB = "7effe354abecbcb234a8dfc2d7644b4ad339b525589738f2d27341bb8622ecd8"
CIPHERTEXT = (
    "ee5c58845c7c9412b11bbd20920c2fddd83c33c9cd2c2de2d66b222613364636"
    "fc7e59d854d599f10e212801de3a47c34333f3b838ee3471e0f285649c332bbb"
)
MAC = "4c17f42a0b319bbba327d2b326ad23e937219b4de32e3ec7b3e3f740522ad6ef"
KB = "a095c51c1c6e384e8d5777d97e3c487a4fc2128a00ab395a73d57fedf41631f0"
TOKEN = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"


def test_v1_stretch_authpw_and_unwrapbkey_match_the_onepw_vectors() -> None:
    assert EMAIL.encode().hex() == "616e6472c3a9406578616d706c652e6f7267"
    assert PASSWORD.encode().hex() == "70c3a4737377c3b67264"
    stretched = stretch_v1(PASSWORD, EMAIL)
    assert stretched.hex() == V1_STRETCHED
    keys = PasswordKeys.from_stretched(stretched, version=1)
    assert keys.auth_pw_hex == AUTH_PW
    assert keys.unwrap_b_key.hex() == UNWRAP_B_KEY


def test_server_side_scrypt_values_match_the_onepw_vectors() -> None:
    verifier = server_verifier(H(AUTH_PW), H("00f0" + "00" * 30))
    assert verifier.verify_hash.hex() == (
        "a4765bf103dc057f4cf4bc2c131ddb6716e8a4333cc55e1d3c449f31f0eec4f1"
    )
    assert verifier.wrapwrap_key.hex() == (
        "3ebea117efa9faf57ce195899b2905058368e7760cc26ea58a2a1be0da7fb287"
    )


def test_key_fetch_token_derivations_match_the_account_keys_vector() -> None:
    creds = token_credentials(KEY_FETCH_TOKEN, "keyFetchToken")
    assert creds.token_id == "3d0a7c02a15a62a2882f76e39b6494b500c022a8816e048625a495718998ba60"
    assert creds.hawk_key.hex() == (
        "87b8937f61d38d0e29cd2d5600b3f4da0aa48ac41de36a0efe84bb4a9872ceb7"
    )
    assert creds.bundle_key.hex() == (
        "14f338a9e8c6324d9e102d4e6ee83b209796d5c74bb734a410e729e014a4a546"
    )
    out = hkdf(creds.bundle_key, "account/keys", 96)
    assert out[:32].hex() == "f824d2953aab9faf51a1cb65ba9e7f9e5bf91c8d8fd1ac1c8c2d31853a8a1210"
    assert out[32:].hex() == (
        "ce7d7aa77859b2359932970bbe2101f2e80d01faf9191bd5ee52181d2f0b7809"
        "8281ba8cff3925433a89f7c3095e0c89900a469d60790c833281c4df1a11c763"
    )


def test_the_account_keys_bundle_unwraps_to_ka_wrapkb_and_kb() -> None:
    bundle_key = token_credentials(KEY_FETCH_TOKEN, "keyFetchToken").bundle_key
    assert bundle_keys(bundle_key, H(KA), H(WRAP_KB)).hex() == CIPHERTEXT + MAC
    ka, wrap_kb = unbundle_keys(bundle_key, H(CIPHERTEXT + MAC))
    assert (ka.hex(), wrap_kb.hex()) == (KA, WRAP_KB)
    assert unwrap_kb(wrap_kb, H(UNWRAP_B_KEY)).hex() == KB


def test_the_server_test_variant_bundle_matches() -> None:
    bundle_key = token_credentials(KEY_FETCH_TOKEN, "keyFetchToken").bundle_key
    wrap = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    expected = (
        "ee5c58845c7c9412b11bbd20920c2fddd83c33c9cd2c2de2d66b222613364636"
        "c2c0f8cfbb7c630472c0bd88451342c6c05b14ce342c5ad46ad89e84464c993c"
        "3927d30230157d0817a077eef4b20d976f7a97363faf3f064c003ada7d01aa70"
    )
    assert bundle_keys(bundle_key, H(KA), H(wrap)).hex() == expected
    assert unbundle_keys(bundle_key, H(expected)) == (H(KA), H(wrap))


def test_a_tampered_bundle_is_refused_before_unwrapping() -> None:
    bundle_key = token_credentials(KEY_FETCH_TOKEN, "keyFetchToken").bundle_key
    bad = bytearray(H(CIPHERTEXT + MAC))
    bad[3] ^= 1
    with pytest.raises(TrustError) as caught:
        unbundle_keys(bundle_key, bytes(bad))
    assert KA not in str(caught.value)
    with pytest.raises(TrustError):
        unbundle_keys(bundle_key, H(CIPHERTEXT))


def test_password_route_chains_to_ksync_and_client_state() -> None:
    kb = H(KB)
    key = oldsync_key(kb, 1510726317123)
    assert key.k.hex() == (
        "9103e3f241298d68d8c8048f25822cc1c1dfe1938709c8793ba2cd8b9e8d60cc"
        "81fd33da652c55c3f7acf361956346904052977392a134075e2f0f1d1732d688"
    )
    assert b64url(key.k) == (
        "kQPj8kEpjWjYyASPJYIswcHf4ZOHCch5O6LNi56NYMyB_TPaZSxVw_es82GVY0aQQFKXc5KhNAdeLw8dFzLWiA"
    )
    assert client_state(kb) == "c3f3435531fb029f4e20d429c1709562"
    assert key.kid == "1510726317123-w_NDVTH7Ap9OINQpwXCVYg"
    assert key.client_state == client_state(kb)


def test_session_token_gives_the_hawk_credentials_and_bearer_form() -> None:
    creds = token_credentials(TOKEN, "sessionToken")
    assert creds.token_id == "c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab"
    assert creds.hawk_key.hex() == (
        "9d8f22998ee7f5798b887042466b72d53e56ab0c094388bf65831f702d2febc0"
    )
    assert creds.bundle_key.hex() == (
        "37e3fceb754cb57362a8bd60a2f2344a7c285d17ddb2b57733640ce6d1b6a7a8"
    )
    assert creds.bearer == (
        "Bearer fxs_c0a29dcf46174973da1378696e4c82ae10f723cf4f4d9f75e39f4ae3851595ab"
    )


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("keyFetchToken", "fxk_70db599cec9c040b10c790418f93fe77711fdea352a59e9b02d2336136d39f68"),
        (
            "accountResetToken",
            "fxar_920fd5fc6cb03cabd2e6854c92d2976112e7b08728825acad1b7227874201f1f",
        ),
        (
            "passwordForgotToken",
            "fxpf_f108185451329f7c94aa569f9efa09c8aeaef71029d341c83839e6820b870b88",
        ),
        (
            "passwordChangeToken",
            "fxpc_9469deecfe3182a9573c7516650522e0d3032c467e909b64dd0d93f4d1253bde",
        ),
    ],
)
def test_every_token_kind_has_its_prefixed_bearer_form(kind: str, expected: str) -> None:
    assert bearer_header(TOKEN, kind) == f"Bearer {expected}"


def test_v2_stretch_matches_the_pyfxa_vector() -> None:
    salt = "identity.mozilla.com/picl/v1/quickStretchV2:c2dc400c9cc1a93dd3cd3af1b05ebd60"
    stretched = stretch_v2(PASSWORD, salt)
    assert stretched.hex() == "b38b6a81c851c34343899bb1c64bd179cdddea840260849444b0b91b413a80de"
    keys = PasswordKeys.from_stretched(stretched, version=2)
    assert keys.auth_pw_hex == "28c81379c31905d16f9aa9c63fcf0950094e413e16a9c9be41f52dbb09af518e"
    assert keys.unwrap_b_key.hex() == (
        "e1c1f362437c8977e2ad8372cafcaf873df7dce30ae351bcd262af05e84caa92"
    )


def test_pyfxa_dummy_credentials_stretch_as_pyfxa_does() -> None:
    password = "l33tP@55W0rd"
    assert stretch_v1(password, "PyFxATester@restmail.net").hex() == (
        "59eb52f6ee5ebe2b599161aaa9b171c3baa8bed594d4e2a8b4b539fb9eba8368"
    )
    salt = "identity.mozilla.com/picl/v1/quickStretchV2:735e18bdc1e83d964930be1e89591263"
    assert stretch_v2(password, salt).hex() == (
        "570b9e5d11640357648fc9dcda78b767fc3676393016391762a21133d291fd1d"
    )


def test_the_application_services_keys_jwe_decrypts_to_ksync_and_kid() -> None:
    flow = KeysJwk.from_private(
        {
            "kty": "EC",
            "crv": "P-256",
            "d": "UayD4kn_4QHvLvLLSSaANfDUp9AcQndQu_TohQKoyn8",
            "x": "ARvGIPJ5eIFdp6YTM-INVDqwfun2R9FfCUvXbH7QCIU",
            "y": "hk8gP0Po8nBh-WSiTsvsyesC5c1L6fGOEVuX8FHsvTs",
        }
    )
    keys = flow.decrypt(AS_KEYS_JWE)
    key = keys["https://identity.mozilla.com/apps/oldsync"]
    assert b64url(key.k) == (
        "8ek1VNk4sjrNP0DhGC4crzQtwmpoR64zHuFMHb4Tw-exR70Z2SSIfMSrJDTLEZid9lD05-hbA3n2Q4Esjlu1tA"
    )
    assert key.kid == "1526414944666-zgTjf5oXmPmBjxwXWFsDWg"
    assert key.keys_changed_at == 1526414944666
    assert "k=" not in repr(key)
    assert b64url(key.k) not in repr(key)


def test_the_app_key_jwe_vector_decrypts_with_its_recipient_key() -> None:
    flow = KeysJwk.from_private(
        {
            "kty": "EC",
            "crv": "P-256",
            "d": "KXAjjEr4KT9UlYI4BE0BefVdoxP8vqO389U7lQlCigs",
            "x": "SiBn6uebjigmQqw4TpNzs3AUyCae1_sG2b9Fzhq3Fyo",
            "y": "q99Xq1RWNTFpk99pdQOSjUvwELss51PkmAGCXhLfMV4",
        }
    )
    assert flow.public == (
        "eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6IlNpQm42dWViamlnbVFxdzRUcE56czNBVXlDYWUxX3NHMmI5"
        "RnpocTNGeW8iLCJ5IjoicTk5WHExUldOVEZwazk5cGRRT1NqVXZ3RUxzczUxUGttQUdDWGhMZk1WNCJ9"
    )
    # The scoped_key derivation of the generic app_key scheme (eco scoped-keys.md).
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    out = HKDF(
        algorithm=hashes.SHA256(),
        length=48,
        salt=H("aeaa1725c7a24ff983c6295725d5fc9b"),
        info=b"identity.mozilla.com/picl/v1/scoped_key\napp_key:https%3A//example.com",
    ).derive(
        H("8b2e1303e21eee06a945683b8d495b9bf079ca30baa37eb8392d9ffa4767be45")
        + H("517d478cb4f994aa69930416648a416fdaa1762c5abf401a2acf11a0f185e98d")
    )
    assert out[:16].hex() == "56873e11bf48a684c836ea3d965edb8c"
    assert b64url(out[16:]) == "Kkbk1_Q0oCcTmggeDH6880bQrxin2RLu5D00NcJazdQ"


def test_a_jwe_for_another_key_is_a_trust_error() -> None:
    with pytest.raises(TrustError):
        KeysJwk.generate().decrypt(AS_KEYS_JWE)
    with pytest.raises(TrustError):
        KeysJwk.generate().decrypt("not-a-jwe")


@pytest.mark.parametrize(
    ("kb", "kid", "k"),
    [
        (
            "2ee722fdd8ccaa721bdeb2d1b76560efef705b04349d9357c3e592cf4906e075",
            "1510726317123-BAik7hEOdpGnPZnPBSdaTg",
            "fwM5VZu0Spf5XcFRZYX2zk6MrqZP7zvovCBcvuKwgYMif3hz98FHmIVa3qjKjrW0J244Zj-P5oWaOcQbvypmpw",
        ),
        (
            "eaf9570b7219a4187d3d6bf3cec2770c2e0719b7cc0dfbb38243d6f1881675e9",
            "1510726317123-IqQv4onc7VcVE1kTQkyyOw",
            "DW_ll5GwX6SJ5GPqJVAuMUP2t6kDqhUulc2cbt26xbTcaKGQl-9l29FHAQ7kUiJETma4s9fIpEHrt909zgFang",
        ),
    ],
)
def test_kb_gives_the_published_ksync_and_kid(kb: str, kid: str, k: str) -> None:
    key = oldsync_key(H(kb), 1510726317123)
    assert (key.kid, b64url(key.k)) == (kid, k)


def test_gecko_vector_unwraps_its_kb_and_client_state() -> None:
    wrap = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    unwrap = "6ea660be9c89ec355397f89afb282ea0bf21095760c8c5009bbcc894155bbe2a"
    kb = unwrap_kb(H(wrap), H(unwrap))
    assert kb.hex() == "2ee722fdd8ccaa721bdeb2d1b76560efef705b04349d9357c3e592cf4906e075"
    assert client_state(kb) == "0408a4ee110e7691a73d99cf05275a4e"


def test_pkce_challenge_is_the_rfc_7636_example() -> None:
    assert pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    with pytest.raises(UsageError):
        pkce_challenge("short")


def test_nothing_secret_shows_in_reprs() -> None:
    keys = PasswordKeys.v1(PASSWORD, EMAIL)
    creds = token_credentials(TOKEN, "sessionToken")
    shown = repr(keys) + repr(creds)
    assert AUTH_PW not in shown
    assert UNWRAP_B_KEY not in shown
    assert creds.token_id not in shown
    assert creds.hawk_key.hex() not in shown


AS_KEYS_JWE = (
    "eyJhbGciOiJFQ0RILUVTIiwia2lkIjoiNFBKTTl5dGVGeUtsb21ILWd2UUtyWGZ0a0N3ak9HNHRfTmpYVXhLM1VqSSIs"
    "ImVwayI6eyJrdHkiOiJFQyIsImNydiI6IlAtMjU2IiwieCI6IlB3eG9Na1RjSVZ2TFlKWU4wM2R0Y3o2TEJrR0FHaU1h"
    "ZWlNQ3lTZXEzb2MiLCJ5IjoiLUYtTllRRDZwNUdSQ2ZoYm1hN3NvNkhxdExhVlNub012S0pFcjFBeWlaSSJ9LCJlbmMi"
    "OiJBMjU2R0NNIn0..b9FPhjjpmAmo_rP8.ur9jTry21Y2trvtcanSFmAtiRfF6s6qqyg6ruRal7PCwa7PxDzAuMN6DZW5"
    "BiK8UREOH08-FyRcIgdDOm5Zq8KwVAn56PGfcH30aNDGQNkA_mpfjx5Tj2z8kI6ryLWew4PGZb-PsL1g-_eyXhktq7dAh"
    "etjNYttKwSREWQFokv7N3nJGpukBqnwL1ost-MjDXlINZLVJKAiMHDcu-q7Epitwid2c2JVGOSCJjbZ4-zbxVmZ4o9xhF"
    "b2lbvdiaMygH6bPlrjEK99uT6XKtaIZmyDwftbD6G3x4On-CqA2TNL6ILRaJMtmyX--ctL0IrngUIHg_F0Wz94v.zBD8N"
    "ACkUcZTPLH0tceGnA"
)
