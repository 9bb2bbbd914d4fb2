"""Hypothesis over the request surface: no 5xx, no effect on another user, nothing stored on 4xx.

Requests are built from valid and broken pieces (methods, paths with huge node and uid
numbers, Host headers, query values, precondition and size headers with huge or non-ASCII
numbers, content types, bodies with huge integers, deep nesting and lone surrogates) and sent
in-process, Hawk-signed for alice — sometimes against bob's uid, sometimes with a broken
signature, sometimes unsigned. No 5xx unless a fault was injected. ``make test`` sends a few
hundred requests; the ``slow`` profile (``make model``) sends over 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beacon._hawk import HawkAuth
from beacon.server import EmbeddedService, Limits
from tests.server.server_fixtures import Clock, counter_rng, make_user

COLLECTIONS = ["history", "meta", "crypto", "tabs", "bad name", "x" * 33, "%2F", ""]
IDS = ["a", "global", "keys", "x" * 65, "\u00e9", " ", "a,b"]
#: Numbers that break naive parsing: past SQLite's 2**63, past int()'s 4,300 digits,
#: digits str.isdigit() admits and int() refuses.
HUGE = [str(2**63), str(2**64 + 1), "9" * 5000, "0" * 30 + "1", "\u00b2", "1\u00b3"]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 10**40])
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["\ud800", "a\udfff", "\U0001f600"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
surrogates = st.sampled_from(["\ud800", "x\udbff", "\udc00y"])
big_ints = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**100])
bso = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "x" * 70, 5, "\ud800", 2**63])},
    optional={
        "payload": st.one_of(st.text(max_size=40), st.integers(), st.none(), surrogates),
        "sortindex": st.one_of(
            st.integers(-(10**10), 10**10), st.text(max_size=3), st.none(), big_ints
        ),
        "ttl": st.one_of(st.integers(-5, 10**10), st.none(), big_ints),
        "bogus": st.integers(),
        "\ud800": st.integers(),
    },
)
# Raw JSON texts that json.dumps cannot produce: 5,000-digit numbers, 10,000-deep nesting.
raw_json = st.sampled_from(
    [
        b'[{"id": "a", "sortindex": ' + b"9" * 5000 + b"}]",
        b'{"payload": "x", "ttl": ' + b"9" * 5000 + b"}",
        b"[" * 10_000 + b"]" * 10_000,
        b'[{"id": "a", "payload": ' + b"[" * 5000 + b"]" * 5000 + b"}]",
        b'[{"id": "a", "payload": "\\ud800\\udc00"}]',
        b'{"payload": "\xed\xa0\x80"}',
        b'[{"id": "a", "payload": "x"}]\n{"id": "b"}',
    ]
)
bodies = st.one_of(
    st.lists(bso, max_size=6).map(lambda items: json.dumps(items).encode()),
    bso.map(lambda item: json.dumps(item).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=60),
    raw_json,
)
query_values = st.one_of(
    st.sampled_from(["1", "0", "-1", "true", "abc", "1700000000.5", "a,b", "newest", "index", ""]),
    st.text(max_size=6),
    st.sampled_from(HUGE),
    st.sampled_from(HUGE).map(lambda n: n + ".YQ"),
    st.sampled_from(HUGE).map(lambda n: n + ".5"),
)
queries = st.dictionaries(
    st.sampled_from(
        ["newer", "older", "limit", "offset", "sort", "ids", "full", "batch", "commit"]
    ),
    query_values,
    max_size=4,
)
header_sets = st.dictionaries(
    st.sampled_from(
        [
            "X-If-Modified-Since",
            "X-If-Unmodified-Since",
            "Content-Type",
            "Accept",
            "X-Weave-Records",
            "X-Weave-Bytes",
            "X-Weave-Total-Records",
            "X-Weave-Total-Bytes",
            "Origin",
            "Access-Control-Request-Method",
        ]
    ),
    st.one_of(
        st.sampled_from(
            [
                "0",
                "1700000000.00",
                "-3",
                "zz",
                "application/json",
                "application/newlines",
                "text/html",
                "999999",
                "GET",
                "https://example.org",
            ]
        ),
        st.sampled_from(HUGE),
    ),
    max_size=3,
)
hosts = st.sampled_from(
    [
        None,
        "beacon.test",
        "beacon.test:80",
        "beacon.test:\u00b2",
        "beacon.test:" + "9" * 5000,
        "beacon.test:65536",
        "[::1]:80",
        "[::1",
        ":",
        "",
    ]
)
paths = st.one_of(
    st.sampled_from(
        [
            "/info/collections",
            "/info/quota",
            "/info/collection_usage",
            "/info/collection_counts",
            "/info/configuration",
            "/storage",
            "",
            "/nonexistent/url",
        ]
    ),
    st.sampled_from(COLLECTIONS).map(lambda c: f"/storage/{c}"),
    st.tuples(st.sampled_from(COLLECTIONS), st.sampled_from(IDS)).map(
        lambda p: f"/storage/{p[0]}/{p[1]}"
    ),
)
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        "path": paths,
        "query": queries,
        "headers": header_sets,
        "host": hosts,
        "body": bodies,
        "target": st.sampled_from(
            ["self", "self", "self", "bob", "broken-mac", "unsigned", "huge-uid", "huge-node"]
        ),
        "inject": st.sampled_from([False] * 9 + [True]),
    }
)


def _encoded(headers: dict[str, str], host: str | None) -> list[tuple[bytes, bytes]]:
    """Headers as bytes (latin-1, as on the wire), so non-ASCII values reach the server."""
    sent = dict(headers)
    if host is not None:
        sent["Host"] = host
    return [(k.encode(), v.encode("latin-1", "replace")) for k, v in sent.items()]


def _snapshot(svc: EmbeddedService, uid: int) -> Any:
    with svc._core.db.transaction() as conn:
        return (
            conn.execute(
                "SELECT collection, id, wire, sortindex, modified, expiry FROM bsos"
                " WHERE uid = ? ORDER BY collection, id",
                (uid,),
            ).fetchall(),
            conn.execute(
                "SELECT name, modified FROM collections WHERE uid = ? ORDER BY name", (uid,)
            ).fetchall(),
            conn.execute("SELECT modified FROM stores WHERE uid = ?", (uid,)).fetchall(),
        )


def _request_surface_check(examples: int) -> int:
    """Run ``examples`` drawn requests; return how many were sent (httpx refuses a few URLs)."""
    sent: list[int] = []
    clock = Clock()
    # Requests up to 40 kB reach the parsers (10,000-deep nesting is 20 kB).
    limits = Limits(max_request_bytes=40_000, max_post_records=4, max_post_bytes=200)
    svc = EmbeddedService(clock=clock, rng=counter_rng(), limits=limits)
    alice = make_user(svc, clock, "alice")
    bob = make_user(svc, clock, "bob")
    bob.post("/storage/history", json=[{"id": "a", "payload": "bob"}, {"id": "b", "sortindex": 1}])
    alice.put("/storage/history/a", json={"payload": "alice"})
    bob_before = _snapshot(svc, bob.token["uid"])
    alice_root = str(alice.token["api_endpoint"])
    roots: dict[str, Callable[[], str]] = {
        "bob": lambda: str(bob.token["api_endpoint"]),
        "huge-uid": lambda: alice_root.rsplit("/", 1)[0] + "/" + "9" * 5000,
        "huge-node": lambda: alice_root.replace("/node/", "/node/" + "1" * 5000, 1),
    }

    @settings(max_examples=examples)
    @given(request=requests)
    def check(request: dict[str, Any]) -> None:
        target = request["target"]
        root = roots[target]() if target in roots else alice_root
        auth: httpx.Auth | None = alice.auth()
        if target == "broken-mac":
            auth = HawkAuth(alice.token["id"], "B" * 43 + "=", clock=clock, nonce=alice.nonce)
        elif target == "unsigned":
            auth = None
        alice_before = _snapshot(svc, alice.token["uid"])
        if request["inject"]:
            svc.faults.fail_next(1)
        try:
            response = alice.http.request(
                request["method"],
                root + request["path"],
                params=request["query"],
                headers=_encoded(request["headers"], request["host"]),
                content=request["body"] if request["method"] in ("PUT", "POST") else None,
                auth=auth,
            )
        except httpx.InvalidURL:
            return  # httpx refuses to build some URLs at all
        finally:
            svc.faults.clear()  # unsent, or a preflight: the injected fault is left unconsumed
        sent.append(response.status_code)
        preflight = request["method"] == "OPTIONS" and {
            "Origin",
            "Access-Control-Request-Method",
        } <= set(request["headers"])
        if request["inject"] and not preflight:
            assert (response.status_code, response.headers["Retry-After"]) == (503, "10")
        else:
            assert response.status_code < 500, (response.status_code, response.text)
        if response.status_code >= 400:
            assert _snapshot(svc, alice.token["uid"]) == alice_before
        if preflight:
            return
        assert "X-Weave-Timestamp" in response.headers
        if response.status_code >= 400 and request["method"] != "HEAD":
            assert response.text.isdigit(), (response.status_code, response.text)
        if target != "self":
            assert response.status_code in (400, 401, 404, 405, 413, 503)
        assert _snapshot(svc, bob.token["uid"]) == bob_before

    try:
        check()
    finally:
        svc.close()
    return len(sent)


def test_no_request_breaks_the_server_or_touches_another_user() -> None:
    assert _request_surface_check(max(300, settings().max_examples)) >= 250


@pytest.mark.slow
def test_ten_thousand_requests_break_nothing() -> None:
    assert _request_surface_check(10_500) >= 10_000


token_headers = st.fixed_dictionaries(
    {},
    optional={
        "Authorization": st.one_of(
            st.sampled_from(["Bearer ", "Bearer x.y", "BrowserID abc", "bearer", "Hawk id=1"]),
            st.text(max_size=20).map(lambda t: "Bearer " + t),
        ),
        "X-KeyID": st.one_of(
            st.sampled_from(["1234-qqo", "-", "0-", "99999999999999999999-qqo", "1-====", "x"]),
            st.text(max_size=12),
            st.sampled_from(HUGE).map(lambda n: n + "-qqo"),
        ),
        "X-Client-State": st.one_of(
            st.sampled_from(["aaaa", "", "bbbb", "!"]), st.text(max_size=40)
        ),
    },
)


def test_no_token_request_breaks_the_token_server() -> None:
    clock = Clock()
    svc = EmbeddedService(clock=clock, rng=counter_rng())
    alice = make_user(svc, clock, "alice")
    valid_key_id = alice.token_request().request.headers["X-KeyID"]

    @settings(max_examples=max(200, settings().max_examples))
    @given(
        headers=token_headers,
        use_real_token=st.booleans(),
        use_real_key_id=st.booleans(),
        path=st.sampled_from(
            ["/1.0/sync/1.5", "/1.0/sync/1.1", "/1.0/x/1.5", "/1.0/sync/1.5?duration=-5"]
        ),
    )
    def check(
        headers: dict[str, str], use_real_token: bool, use_real_key_id: bool, path: str
    ) -> None:
        sent = dict(headers)
        if use_real_token:
            sent["Authorization"] = f"Bearer {alice.account.access_token}"
        if use_real_key_id:
            sent["X-KeyID"] = valid_key_id
        encoded = [(k.encode(), v.encode("utf-8")) for k, v in sent.items()]
        try:
            response = alice.http.get("http://beacon.test" + path, headers=encoded)
        except httpx.LocalProtocolError:
            return  # httpx refuses to send some header values at all
        assert response.status_code in (200, 400, 401, 404), response.text
        assert response.json()
        assert "X-Timestamp" in response.headers

    try:
        check()
        # Whatever was tried, alice's own credentials still work and her uid did not change.
        assert alice.token_request().json()["uid"] == alice.token["uid"]
    finally:
        svc.close()
