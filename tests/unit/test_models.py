"""Wire models: the rules of docs/protocol.md §1.5, §3.2, §3.7 and §4.2-4.6, the single
ProtocolViolation door, and JSON round trips.

§ numbers refer to docs/protocol.md."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from beacon import CollectionKeys, KeyBundle, ProtocolViolation, UsageError
from beacon._models import (
    Bso,
    ClientCommand,
    ClientRecord,
    CryptoKeysRecord,
    EncryptedPayload,
    EngineEntry,
    InfoCollections,
    InfoConfiguration,
    MetaGlobal,
    TokenResponse,
    format_timestamp,
    new_sync_id,
    parse_model,
)

SYNC_ID = "abcdefghijkl"
TOKEN_BODY: dict[str, Any] = {
    "id": "SECRET-TOKEN-ID",
    "key": "SECRET-HAWK-KEY=",
    "uid": 12345,
    "api_endpoint": "https://db42.sync.services.mozilla.com/1.5/12345",
    "duration": 3600,
    "hashed_fxa_uid": "0e8df5d41398a389913bd8402435649",
    "hashalg": "sha256",
    "node_type": "spanner",
}


# --- parse_model -----------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["bytes", "str", "mapping"])
def test_parse_model_accepts_bytes_text_and_mappings(form: str) -> None:
    data: Any = {"bytes": json.dumps(TOKEN_BODY).encode(), "str": json.dumps(TOKEN_BODY)}.get(
        form, TOKEN_BODY
    )
    token = parse_model(TokenResponse, data)
    assert (token.uid, token.duration, token.node_type) == (12345, 3600, "spanner")


@pytest.mark.parametrize("data", [b"{", b"\xff", "", "[1]", "null", "[" * 10_000 + "]" * 10_000])
def test_parse_model_turns_bad_json_into_a_protocol_violation(data: bytes | str) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        parse_model(TokenResponse, data)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None


def test_parse_model_refuses_misuse() -> None:
    with pytest.raises(UsageError):
        parse_model(TokenResponse, 42)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        parse_model(dict, "{}")  # type: ignore[type-var]


def test_protocol_violation_names_fields_but_never_echoes_values() -> None:
    body = {**TOKEN_BODY, "uid": "SECRET-UID", "key": "SECRET\x01KEY", "duration": 0}
    with pytest.raises(ProtocolViolation) as caught:
        parse_model(TokenResponse, json.dumps(body))
    message = str(caught.value)
    assert caught.value.__context__ is None  # a ValidationError would hold the input values
    assert "TokenResponse" in message
    assert "uid" in message
    assert "duration" in message
    assert "SECRET" not in message


# --- TokenResponse (§1.5) --------------------------------------------------------------------


def test_token_response_repr_hides_id_and_key() -> None:
    token = parse_model(TokenResponse, TOKEN_BODY)
    assert "SECRET" not in repr(token)
    assert "SECRET" not in str(token)
    assert token.key == "SECRET-HAWK-KEY="


def test_token_response_node_is_the_endpoint_without_its_uid_path() -> None:
    token = parse_model(TokenResponse, TOKEN_BODY)
    assert token.node == "https://db42.sync.services.mozilla.com"


def test_token_response_ignores_unknown_fields_and_defaults_optional_ones() -> None:
    body = {k: v for k, v in TOKEN_BODY.items() if k not in ("hashalg", "node_type")}
    token = parse_model(TokenResponse, {**body, "new_field": 1})
    assert (token.hashalg, token.node_type) == ("sha256", None)


@pytest.mark.parametrize(
    "change",
    [
        {"id": None},
        {"key": None},
        {"uid": None},
        {"api_endpoint": None},
        {"duration": None},
        {"hashed_fxa_uid": None},
        {"uid": "12345"},
        {"uid": -1},
        {"duration": 0},
        {"duration": 36.5},
        {"hashalg": "sha1"},
        {"api_endpoint": "ftp://x/1.5/1"},
        {"api_endpoint": "db42/1.5/1"},
        {"id": ""},
    ],
)
def test_token_response_refuses_missing_or_wrong_fields(change: dict[str, Any]) -> None:
    body = {k: v for k, v in {**TOKEN_BODY, **change}.items() if v is not None}
    with pytest.raises(ProtocolViolation):
        parse_model(TokenResponse, body)


# --- Bso (§3.2, §3.3) ------------------------------------------------------------------------


def test_bso_defaults_and_ignored_collection_key() -> None:
    bso = parse_model(Bso, {"id": "x", "collection": "tabs"})
    assert (bso.payload, bso.modified, bso.sortindex, bso.ttl) == ("", None, None, None)
    assert "collection" not in bso.to_json()


def test_bso_renders_modified_with_exactly_two_decimals() -> None:
    bso = parse_model(Bso, '{"id": "x", "payload": "p", "modified": 1388635807.4}')
    assert bso.modified == 1388635807.4
    text = bso.to_json()
    assert '"modified":1388635807.40' in text
    assert json.loads(text) == {"id": "x", "payload": "p", "modified": 1388635807.4}


def test_bso_to_json_can_leave_out_the_write_only_ttl() -> None:
    bso = Bso(id="x", ttl=5, sortindex=-3)
    assert json.loads(bso.to_json()) == {"id": "x", "payload": "", "ttl": 5, "sortindex": -3}
    assert "ttl" not in bso.to_json(include_ttl=False)


@pytest.mark.parametrize("value", ["1234.5", "1234.50", "0", "0.01", "1388635807.41"])
def test_bso_modified_parses_one_or_two_decimals(value: str) -> None:
    bso = parse_model(Bso, f'{{"id": "x", "modified": {value}}}')
    assert format_timestamp(bso.modified or 0.0) == f"{float(value):.2f}"


VALID_IDS = ["a", "x" * 64, " ~!{}", "abc,def", "AbCdEfGhIjKl"]
INVALID = {
    "empty id": {"id": ""},
    "65-char id": {"id": "x" * 65},
    "non-ascii id": {"id": "é"},
    "control char id": {"id": "a\nb"},
    "numeric id": {"id": 5},
    "sortindex too big": {"id": "x", "sortindex": 1_000_000_000},
    "sortindex too small": {"id": "x", "sortindex": -1_000_000_000},
    "sortindex string": {"id": "x", "sortindex": "2"},
    "sortindex float": {"id": "x", "sortindex": 2.6},
    "sortindex bool": {"id": "x", "sortindex": True},
    "negative ttl": {"id": "x", "ttl": -1},
    "ttl too big": {"id": "x", "ttl": 1_000_000_000},
    "ttl string": {"id": "x", "ttl": "eh?"},
    "payload not a string": {"id": "x", "payload": {"a": 1}},
    "unknown key": {"id": "x", "nonsense": 1},
    "three decimals": {"id": "x", "modified": 1234.567},
    "negative modified": {"id": "x", "modified": -1.0},
    "modified out of range": {"id": "x", "modified": 1e308},
    "missing id": {"payload": "p"},
}


@pytest.mark.parametrize("bso_id", VALID_IDS)
def test_bso_ids_are_1_to_64_printable_ascii(bso_id: str) -> None:
    assert parse_model(Bso, {"id": bso_id}).id == bso_id


@pytest.mark.parametrize("data", INVALID.values(), ids=INVALID.keys())
def test_invalid_bsos_are_protocol_violations(data: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation):
        parse_model(Bso, json.dumps(data))


def test_sortindex_and_ttl_limits_are_inclusive() -> None:
    bso = parse_model(Bso, {"id": "x", "sortindex": -999_999_999, "ttl": 999_999_999})
    assert (bso.sortindex, bso.ttl) == (-999_999_999, 999_999_999)
    assert parse_model(Bso, {"id": "x", "ttl": 0}).ttl == 0


# --- EncryptedPayload (§4.2) -----------------------------------------------------------------


def test_encrypted_payload_reads_the_capitalised_iv_and_writes_it_back() -> None:
    envelope = parse_model(EncryptedPayload, '{"ciphertext": "c", "IV": "i", "hmac": "h"}')
    assert envelope.iv == "i"
    assert json.loads(envelope.model_dump_json()) == {"ciphertext": "c", "IV": "i", "hmac": "h"}
    with pytest.raises(ProtocolViolation):
        parse_model(EncryptedPayload, '{"ciphertext": "c", "iv": "i", "hmac": "h"}')


# --- MetaGlobal (§4.3) -----------------------------------------------------------------------

META = {
    "syncID": SYNC_ID,
    "storageVersion": 5,
    "engines": {"bookmarks": {"version": 2, "syncID": "BOOKMARKS-id"}},
    "declined": ["passwords"],
}


def test_meta_global_reads_the_wire_names() -> None:
    meta = parse_model(MetaGlobal, META)
    assert meta.sync_id == SYNC_ID
    assert meta.storage_version == 5
    assert meta.engines["bookmarks"] == EngineEntry(version=2, sync_id="BOOKMARKS-id")
    assert meta.declined == ["passwords"]
    assert json.loads(meta.model_dump_json()) == META


def test_meta_global_keeps_unknown_fields_through_a_round_trip() -> None:
    data = {
        **META,
        "futureField": [1],
        "engines": {"tabs": {"version": 1, "syncID": SYNC_ID, "x": 1}},
    }
    assert json.loads(parse_model(MetaGlobal, data).model_dump_json()) == data


def test_an_engine_both_enabled_and_declined_counts_as_enabled() -> None:
    meta = parse_model(MetaGlobal, {**META, "declined": ["bookmarks", "passwords", "passwords"]})
    assert meta.declined == ["passwords"]


def test_meta_global_defaults_engines_and_declined_to_empty() -> None:
    meta = parse_model(MetaGlobal, {"syncID": SYNC_ID, "storageVersion": 5})
    assert (meta.engines, meta.declined) == ({}, [])


@pytest.mark.parametrize(
    "change",
    [
        {"syncID": "short"},
        {"syncID": "thirteen-char"},
        {"syncID": "abcdefghij+/"},
        {"storageVersion": "5"},
        {"storageVersion": -1},
        {"engines": {"tabs": {"version": 1, "syncID": "bad"}}},
        {"engines": {"tabs": {"syncID": SYNC_ID}}},
        {"engines": {"bad name!": {"version": 1, "syncID": SYNC_ID}}},
        {"engines": []},
        {"declined": "tabs"},
        {"declined": [1]},
    ],
)
def test_invalid_meta_globals_are_protocol_violations(change: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation):
        parse_model(MetaGlobal, {**META, **change})


def test_new_sync_ids_are_twelve_url_safe_characters() -> None:
    sync_id = new_sync_id(rng=lambda n: b"\xfb" * n)
    assert sync_id == "-_v7-_v7-_v7"
    assert parse_model(EngineEntry, {"version": 1, "syncID": new_sync_id()}).version == 1


# --- CryptoKeysRecord (§4.4) -----------------------------------------------------------------

KEY_A = base64.b64encode(b"\x01" * 32).decode()
KEY_B = base64.b64encode(b"\x02" * 32).decode()


def test_crypto_keys_record_converts_to_and_from_collection_keys() -> None:
    keys = CollectionKeys(
        KeyBundle(b"\x01" * 32, b"\x02" * 32), {"tabs": KeyBundle(b"\x02" * 32, b"\x01" * 32)}
    )
    record = CryptoKeysRecord.from_collection_keys(keys)
    assert json.loads(record.model_dump_json()) == {
        "id": "keys",
        "collection": "crypto",
        "default": [KEY_A, KEY_B],
        "collections": {"tabs": [KEY_B, KEY_A]},
    }
    assert record.to_collection_keys() == keys
    assert json.loads(record.model_dump_json()) == keys.to_cleartext()


def test_crypto_keys_record_repr_hides_the_keys() -> None:
    record = parse_model(CryptoKeysRecord, {"default": [KEY_A, KEY_B]})
    assert KEY_A not in repr(record)
    assert KEY_B not in str(record)


@pytest.mark.parametrize(
    "data",
    [
        {"collections": {}},
        {"default": [KEY_A]},
        {"default": [KEY_A, KEY_B, KEY_A]},
        {"default": [KEY_A, "AAAA"]},
        {"default": [KEY_A, "not base64!"]},
        {"default": [KEY_A, KEY_B], "collections": {"tabs": [KEY_A]}},
        {"default": [KEY_A, KEY_B], "id": "other"},
        {"default": [KEY_A, KEY_B], "collection": "meta"},
    ],
)
def test_invalid_crypto_keys_records_are_protocol_violations(data: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        parse_model(CryptoKeysRecord, data)
    assert KEY_A not in str(caught.value)


# --- info/collections and info/configuration (§3.4, §3.7) -----------------------------------


def test_info_collections_renders_two_decimals() -> None:
    info = parse_model(InfoCollections, b'{"tabs": 1234.5, "meta": 12, "crypto": 0.01}')
    assert info.root == {"tabs": 1234.5, "meta": 12.0, "crypto": 0.01}
    assert info.to_json() == '{"tabs":1234.50,"meta":12.00,"crypto":0.01}'


@pytest.mark.parametrize("body", ['{"tabs": "1"}', '{"bad name": 1}', '{"tabs": -1}', "[]"])
def test_invalid_info_collections_are_protocol_violations(body: str) -> None:
    with pytest.raises(ProtocolViolation):
        parse_model(InfoCollections, body)


def test_info_configuration_defaults_are_the_syncstorage_rs_defaults() -> None:
    config = parse_model(InfoConfiguration, b"{}")
    assert config.model_dump() == {
        "max_request_bytes": 2_625_536,
        "max_post_records": 100,
        "max_post_bytes": 2_621_440,
        "max_total_records": 10_000,
        "max_total_bytes": 262_144_000,
        "max_record_payload_bytes": 2_621_440,
        "max_quota_limit": 2_097_152_000,
    }


def test_info_configuration_takes_server_values_and_keeps_unknown_keys() -> None:
    config = parse_model(InfoConfiguration, {"max_post_records": 5, "future_limit": 1})
    assert config.max_post_records == 5
    assert config.max_post_bytes == 2_621_440
    assert config.model_dump()["future_limit"] == 1


@pytest.mark.parametrize("body", [{"max_post_records": 0}, {"max_post_bytes": "100"}])
def test_invalid_info_configuration_is_a_protocol_violation(body: dict[str, Any]) -> None:
    with pytest.raises(ProtocolViolation):
        parse_model(InfoConfiguration, body)


# --- ClientRecord (§4.6) ---------------------------------------------------------------------

CLIENT = {
    "id": "deviceid0001",
    "name": "Laptop",
    "type": "desktop",
    "commands": [{"command": "wipeEngine", "args": ["bookmarks"], "flowID": "flow"}],
    "fxaDeviceId": "0123abcd",
    "version": "130.0",
    "protocols": ["1.5"],
    "os": "Linux",
    "appPackage": "org.mozilla.firefox",
}


def test_client_record_reads_and_writes_the_camel_case_wire_names() -> None:
    record = parse_model(ClientRecord, CLIENT)
    assert record.fxa_device_id == "0123abcd"
    assert record.app_package == "org.mozilla.firefox"
    assert record.commands == [
        ClientCommand(command="wipeEngine", args=["bookmarks"], flow_id="flow")
    ]
    assert json.loads(record.model_dump_json(exclude_none=True)) == CLIENT


@pytest.mark.parametrize(
    ("wire", "read"),
    [("phone", "mobile"), ("mobile", "mobile"), ("fridge", "unknown"), ("tv", "tv")],
)
def test_client_device_types_map_phone_to_mobile_and_unknown_types_to_unknown(
    wire: str, read: str
) -> None:
    assert parse_model(ClientRecord, {**CLIENT, "type": wire}).type == read


@pytest.mark.parametrize(
    "change",
    [{"name": None}, {"id": None}, {"type": None}, {"type": 3}, {"commands": [{"args": []}]},
     {"commands": "wipeAll"}, {"protocols": "1.5"}],
)  # fmt: skip
def test_invalid_client_records_are_protocol_violations(change: dict[str, Any]) -> None:
    data = {k: v for k, v in {**CLIENT, **change}.items() if v is not None}
    with pytest.raises(ProtocolViolation):
        parse_model(ClientRecord, data)


def test_models_are_frozen() -> None:
    bso = Bso(id="x")
    with pytest.raises(ValueError, match="frozen"):
        bso.payload = "y"  # type: ignore[misc]


# --- round trips -----------------------------------------------------------------------------

sync_ids = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    min_size=12,
    max_size=12,
)
names = st.from_regex(r"\A[a-zA-Z0-9._-]{1,32}\Z")
timestamps = st.integers(min_value=0, max_value=10**11).map(lambda c: c / 100)
bsos = st.builds(
    Bso,
    id=st.from_regex(r"\A[ -~]{1,64}\Z"),
    payload=st.text(),
    modified=st.none() | timestamps,
    sortindex=st.none() | st.integers(min_value=-999_999_999, max_value=999_999_999),
    ttl=st.none() | st.integers(min_value=0, max_value=999_999_999),
)
metas = st.fixed_dictionaries(
    {
        "syncID": sync_ids,
        "storageVersion": st.integers(min_value=0, max_value=10),
        "engines": st.dictionaries(
            names,
            st.fixed_dictionaries(
                {"version": st.integers(min_value=0, max_value=5), "syncID": sync_ids}
            ),
            max_size=4,
        ),
        "declined": st.lists(names, max_size=4, unique=True),
    }
).map(lambda wire: parse_model(MetaGlobal, wire))
commands = st.fixed_dictionaries(
    {"command": st.text(min_size=1), "args": st.lists(st.text())},
    optional={"flowID": st.text()},
)
clients = st.fixed_dictionaries(
    {
        "id": st.from_regex(r"\A[ -~]{1,64}\Z"),
        "name": st.text(),
        "type": st.sampled_from(["desktop", "mobile", "tablet", "vr", "tv", "unknown"]),
        "commands": st.lists(commands, max_size=3),
    },
    optional={"fxaDeviceId": st.text(), "protocols": st.lists(st.text(), max_size=2)},
).map(lambda wire: parse_model(ClientRecord, wire))


@given(bsos)
def test_bso_round_trips_through_its_wire_json(bso: Bso) -> None:
    assert parse_model(Bso, bso.to_json()) == bso


@given(metas)
def test_meta_global_round_trips_through_json(meta: MetaGlobal) -> None:
    assert parse_model(MetaGlobal, meta.model_dump_json()) == meta


@given(clients)
def test_client_record_round_trips_through_json(record: ClientRecord) -> None:
    assert parse_model(ClientRecord, record.model_dump_json()) == record


@given(st.dictionaries(names, timestamps, max_size=6))
def test_info_collections_round_trips_through_its_wire_json(data: dict[str, float]) -> None:
    info = InfoCollections(data)
    assert parse_model(InfoCollections, info.to_json()) == info


@pytest.mark.parametrize(
    "model", [TokenResponse, Bso, EncryptedPayload, MetaGlobal, CryptoKeysRecord, ClientRecord]
)
def test_every_model_refuses_a_json_array(model: type[BaseModel]) -> None:
    with pytest.raises(ProtocolViolation):
        parse_model(model, "[]")


token_bodies = st.fixed_dictionaries(
    {
        "id": st.from_regex(r"\A[ !#-\[\]-~]{1,80}\Z"),  # fits a quoted Hawk attribute
        "key": st.from_regex(r"\A[ -~]{1,50}\Z"),
        "uid": st.integers(min_value=0, max_value=2**40),
        "api_endpoint": st.integers(min_value=0, max_value=10**6).map(
            lambda uid: f"https://node.example/1.5/{uid}"
        ),
        "duration": st.integers(min_value=1, max_value=10**6),
        "hashed_fxa_uid": st.text(max_size=32),
    },
    optional={"node_type": st.none() | st.sampled_from(["spanner", "mysql"])},
)


@given(token_bodies)
def test_token_response_round_trips_through_json(body: dict[str, Any]) -> None:
    token = parse_model(TokenResponse, body)
    assert parse_model(TokenResponse, token.model_dump_json()) == token


@given(
    st.dictionaries(st.sampled_from(list(InfoConfiguration.model_fields)), st.integers(1, 2**40))
)
def test_info_configuration_round_trips_through_json(body: dict[str, int]) -> None:
    config = parse_model(InfoConfiguration, body)
    assert parse_model(InfoConfiguration, config.model_dump_json()) == config


@given(st.lists(names, max_size=4, unique=True), st.randoms(use_true_random=False))
def test_crypto_keys_record_round_trips_through_json(collections: list[str], random: Any) -> None:
    keys = CollectionKeys.generate(collections, rng=random.randbytes)
    record = CryptoKeysRecord.from_collection_keys(keys)
    again = parse_model(CryptoKeysRecord, record.model_dump_json())
    assert again == record
    assert again.to_collection_keys() == keys
