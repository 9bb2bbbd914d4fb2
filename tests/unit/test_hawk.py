"""Hawk: the hawk-js reference vectors (§5.5), the storage-node vectors (§5.6), the client's
``httpx.Auth`` and the server's parse/verify.

§ numbers refer to docs/protocol.md."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from beacon import HawkAuth, UsageError
from beacon._hawk import (
    HawkHeader,
    HawkInvalid,
    compute_mac,
    normalized_string,
    parse_header,
    payload_hash,
    verify,
)

# §5.5 (hawk-js test/readme.js)
REF_KEY = b"werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
REF: dict[str, Any] = {
    "ts": 1353832234,
    "nonce": "j4h3g2",
    "resource": "/resource/1?b=1&a=2",
    "host": "example.com",
    "port": 8000,
    "ext": "some-app-ext-data",
}

# §5.6 (syncstorage-rs web/auth.rs): the Hawk key derived from the master secret and token.
NODE_KEY = "dSi3EoZyHwgDp-O9OG1jRHtmbGl2M1bwcWsi04C4F58="
NODE_ID = "token-id-from-the-token-server"
NODE_GET: dict[str, Any] = {
    "method": "GET",
    "resource": "/storage/1.5/1/storage/col2",
    "host": "localhost",
    "port": 5000,
}
NODE_POST: dict[str, Any] = {
    "method": "POST",
    "resource": "/storage/1.5/1/storage/col2?batch=MTUzNjE5ODk3NjkyMQ==&commit=true",
    "host": "localhost",
    "port": 5000,
}
NODE_TS = 1569608439


def test_reference_normalized_string() -> None:
    assert normalized_string(method="GET", **REF) == (
        "hawk.1.header\n1353832234\nj4h3g2\nGET\n/resource/1?b=1&a=2\nexample.com\n8000\n\n"
        "some-app-ext-data\n"
    )


def test_reference_get_mac() -> None:
    mac = compute_mac(REF_KEY, method="GET", **REF)
    assert mac == "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="


def test_reference_get_header_parses_and_verifies() -> None:
    header = parse_header(
        'Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", ext="some-app-ext-data", '
        'mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="'
    )
    assert header == HawkHeader(
        id="dh37fgj492je",
        ts=1353832234,
        nonce="j4h3g2",
        mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=",
        ext="some-app-ext-data",
    )
    verify(header, REF_KEY, method="GET", resource=REF["resource"], host="example.com",
           port=8000, now=1353832234)  # fmt: skip


def test_reference_post_payload_hash_and_mac() -> None:
    digest = payload_hash("text/plain", b"Thank you for flying Hawk")
    assert digest == "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
    assert payload_hash("Text/Plain; charset=utf-8", b"Thank you for flying Hawk") == digest
    mac = compute_mac(REF_KEY, method="POST", hash=digest, **REF)
    assert mac == "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="


@pytest.mark.parametrize(
    ("request_args", "nonce", "mac"),
    [
        (NODE_GET, "h1Ch4vo=", "UwDpC+DSrHCSTQSfMOWlueB6kM6gHb0Hsv8eU9ZcTVs="),
        (NODE_POST, "4Rj7c+0=", "E7j1UjN7//mh7pYXsgGi3n0KGR+sUPpuyogDVzJWaHg="),
    ],
    ids=["GET", "POST with query"],
)
def test_storage_node_vectors(request_args: dict[str, Any], nonce: str, mac: str) -> None:
    key = NODE_KEY.encode("ascii")  # the key string's ASCII bytes, not its decoded bytes (§2.1)
    assert compute_mac(key, ts=NODE_TS, nonce=nonce, **request_args) == mac
    header = HawkHeader(id=NODE_ID, ts=NODE_TS, nonce=nonce, mac=mac)
    verify(header, key, now=NODE_TS, **request_args)


GOOD = HawkHeader(
    id=NODE_ID, ts=NODE_TS, nonce="h1Ch4vo=", mac="UwDpC+DSrHCSTQSfMOWlueB6kM6gHb0Hsv8eU9ZcTVs="
)
NEGATIVE = {
    "method": ({**NODE_GET, "method": "POST"}, GOOD),
    "path with query added": (
        {**NODE_GET, "resource": NODE_GET["resource"] + "?batch=MTUzNjE5ODk3NjkyMQ=="},
        GOOD,
    ),
    "host": ({**NODE_GET, "host": "127.0.0.1"}, GOOD),
    "port": ({**NODE_GET, "port": 5001}, GOOD),
    "nonce": (NODE_GET, replace(GOOD, nonce="1d4mRs0=")),
    "ts": (NODE_GET, replace(GOOD, ts=1536198978)),
    "mac": (NODE_GET, replace(GOOD, mac="xRVjP7607eZUWCBxJKwTo1CsLcNf4TZwUUNrLPUqkdQ=")),
    "hash added": (NODE_GET, replace(GOOD, hash="Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=")),
    "ext added": (NODE_GET, replace(GOOD, ext="x")),
}


@pytest.mark.parametrize(("request_args", "header"), NEGATIVE.values(), ids=NEGATIVE.keys())
def test_storage_node_vector_fails_when_anything_changes(
    request_args: dict[str, Any], header: HawkHeader
) -> None:
    with pytest.raises(HawkInvalid) as caught:
        verify(header, NODE_KEY.encode(), now=header.ts, **request_args)
    assert caught.value.reason == "mac"


def test_storage_node_vector_fails_under_another_key() -> None:
    with pytest.raises(HawkInvalid):
        verify(GOOD, b"another key", now=NODE_TS, **NODE_GET)


def test_host_and_method_case_do_not_matter() -> None:
    args = {**NODE_GET, "host": "LocalHost", "method": "get"}
    verify(GOOD, NODE_KEY.encode(), now=NODE_TS, **args)


@pytest.mark.parametrize("offset", [-61, 61, -3600])
def test_a_timestamp_outside_the_skew_window_is_stale(offset: float) -> None:
    with pytest.raises(HawkInvalid) as caught:
        verify(GOOD, NODE_KEY.encode(), now=NODE_TS + offset, **NODE_GET)
    assert caught.value.reason == "stale"


@pytest.mark.parametrize("offset", [-60, 0, 60])
def test_a_timestamp_inside_the_skew_window_passes(offset: float) -> None:
    verify(GOOD, NODE_KEY.encode(), now=NODE_TS + offset, **NODE_GET)


def test_the_skew_window_is_configurable() -> None:
    verify(GOOD, NODE_KEY.encode(), now=NODE_TS + 3600, skew=7200, **NODE_GET)


def test_a_forged_mac_is_refused_even_with_a_stale_timestamp_as_a_mac_failure() -> None:
    forged = replace(GOOD, mac="AAAA" + GOOD.mac[4:])
    with pytest.raises(HawkInvalid) as caught:
        verify(forged, NODE_KEY.encode(), now=0, **NODE_GET)
    assert caught.value.reason == "mac"


def test_ext_newlines_are_escaped_in_the_normalized_string() -> None:
    text = normalized_string(
        ts=1, nonce="n", method="GET", resource="/", host="h", port=1, ext="a\nb\\"
    )
    assert text.endswith("\na\\nb\\\\\n")
    assert text.count("\n") == 9


# --- parse_header ----------------------------------------------------------------------------


def test_parse_accepts_any_attribute_order_and_case_of_the_scheme() -> None:
    header = parse_header('hawk mac="m", nonce="n", ts="5", id="i", hash="h"')
    assert (header.id, header.ts, header.nonce, header.mac, header.hash) == ("i", 5, "n", "m", "h")
    assert header.ext == ""


MALFORMED = [
    "",
    "Hawk",
    "Hawk ",
    'Bearer id="i", ts="1", nonce="n", mac="m"',
    'Hawk id="i", ts="1", nonce="n"',
    'Hawk id="", ts="1", nonce="n", mac="m"',
    'Hawk id="i", ts="x1", nonce="n", mac="m"',
    'Hawk id="i", ts="-1", nonce="n", mac="m"',
    'Hawk id="i", ts="1", nonce="n", mac="m", mac="m"',
    'Hawk id="i", ts="1", nonce="n", mac="m", color="blue"',
    'Hawk id="i", ts="1", nonce="n", mac="m", app="a"',
    'Hawk id="i" ts="1" nonce="n" mac="m"',
    'Hawk id=i, ts="1", nonce="n", mac="m"',
    'Hawk id="i\\"", ts="1", nonce="n", mac="m"',
    'Hawk id="é", ts="1", nonce="n", mac="m"',
    'Hawk id="i", ts="1", nonce="n", mac="m" trailing',
    'Hawk id="' + "x" * 9000 + '", ts="1", nonce="n", mac="m"',
]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_headers_are_refused(value: str) -> None:
    with pytest.raises(HawkInvalid) as caught:
        parse_header(value)
    assert caught.value.reason == "malformed"


def test_header_repr_hides_the_token_id() -> None:
    assert NODE_ID not in repr(GOOD)


# --- HawkAuth (client) -----------------------------------------------------------------------


def _signed(auth: HawkAuth, method: str, url: str) -> httpx.Request:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        client.request(method, url)
    (request,) = seen
    return request


def test_hawk_auth_reproduces_the_storage_node_vector() -> None:
    nonces = iter(["h1Ch4vo=", "4Rj7c+0="])
    auth = HawkAuth(NODE_ID, NODE_KEY, clock=lambda: NODE_TS + 0.9, nonce=lambda: next(nonces))
    get = _signed(auth, "GET", "http://localhost:5000/storage/1.5/1/storage/col2")
    assert get.headers["Authorization"] == (
        f'Hawk id="{NODE_ID}", ts="{NODE_TS}", nonce="h1Ch4vo=", '
        'mac="UwDpC+DSrHCSTQSfMOWlueB6kM6gHb0Hsv8eU9ZcTVs="'
    )
    post = _signed(auth, "POST", "http://localhost:5000" + NODE_POST["resource"])
    assert parse_header(post.headers["Authorization"]).mac == (
        "E7j1UjN7//mh7pYXsgGi3n0KGR+sUPpuyogDVzJWaHg="
    )


def test_hawk_auth_signs_what_the_server_verifies() -> None:
    auth = HawkAuth("some-id", "some-key", clock=lambda: 1000.0)
    request = _signed(auth, "PUT", "https://Sync.Example.com/1.5/7/storage/tabs/x?a=%2F&b=1")
    header = parse_header(request.headers["Authorization"])
    assert header.id == "some-id"
    assert header.hash == ""  # Sync clients send no payload hash (§2.3)
    verify(header, b"some-key", method="PUT", resource="/1.5/7/storage/tabs/x?a=%2F&b=1",
           host="sync.example.com", port=443, now=1000.0)  # fmt: skip


def test_hawk_auth_draws_a_fresh_nonce_per_request() -> None:
    auth = HawkAuth("some-id", "some-key", clock=lambda: 1000.0)
    first = parse_header(_signed(auth, "GET", "http://h/").headers["Authorization"])
    second = parse_header(_signed(auth, "GET", "http://h/").headers["Authorization"])
    assert first.nonce != second.nonce
    assert first.mac != second.mac


def test_hawk_auth_repr_hides_id_and_key() -> None:
    auth = HawkAuth(NODE_ID, NODE_KEY)
    assert NODE_KEY not in repr(auth) + str(auth)
    assert NODE_ID not in repr(auth) + str(auth)


@pytest.mark.parametrize(("token_id", "key"), [("", "k"), ('a"b', "k"), ("i", ""), ("i", "ké")])
def test_hawk_auth_refuses_unusable_credentials(token_id: str, key: str) -> None:
    with pytest.raises(UsageError):
        HawkAuth(token_id, key)


def test_hawk_auth_refuses_a_nonce_that_would_break_the_header() -> None:
    auth = HawkAuth("i", "k", nonce=lambda: 'n"')
    with pytest.raises(UsageError):
        _signed(auth, "GET", "http://h/")


methods = st.sampled_from(["GET", "PUT", "POST", "DELETE"])
segments = st.text(alphabet="abcXYZ019-._~", min_size=1, max_size=8)
queries = st.lists(st.tuples(segments, st.text(max_size=8)), max_size=3)


@given(
    method=methods,
    path=st.lists(segments, min_size=1, max_size=4),
    query=queries,
    ts=st.integers(min_value=0, max_value=2**33),
    port=st.none() | st.integers(min_value=1, max_value=65535),
)
def test_anything_hawk_auth_signs_the_server_verifies(
    method: str, path: list[str], query: list[tuple[str, str]], ts: int, port: int | None
) -> None:
    url = httpx.URL(
        f"https://sync.example.com{'' if port is None else f':{port}'}/" + "/".join(path),
        params=query,
    )
    auth = HawkAuth("the-id", "the-key", clock=lambda: ts + 0.5, nonce=lambda: "nonce")
    request = httpx.Request(method, url)
    header = parse_header(auth.header_for(request))
    resource = url.raw_path.decode("ascii")
    verify(header, b"the-key", method=method, resource=resource, host="sync.example.com",
           port=443 if port is None else port, now=ts)  # fmt: skip
    with pytest.raises(HawkInvalid):
        verify(header, b"the-key", method=method, resource=resource + "x",
               host="sync.example.com", port=443 if port is None else port, now=ts)  # fmt: skip
