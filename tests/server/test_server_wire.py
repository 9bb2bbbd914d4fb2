"""What the service answers, byte for byte, now that each record is stored in its wire form:
pages are joined stored bytes, partial updates re-render them, tokens match either way."""

from __future__ import annotations

from beacon.server import EmbeddedService
from tests.server.server_fixtures import Clock, User


def test_a_full_page_is_the_exact_json_of_its_records(user: User, clock: Clock) -> None:
    records = [
        {"id": "a", "payload": "caf\u00e9 \u2713", "sortindex": 2},
        {"id": "b", "payload": '{"IV":"x\\\\y","q":"\\"z\\""}'},
    ]
    assert user.post("/storage/notes", json=records).status_code == 200
    body = user.get("/storage/notes?full=1").content
    assert body == (
        b'[{"id":"a","modified":1700000000.00,"payload":"caf\\u00e9 \\u2713","sortindex":2},'
        b'{"id":"b","modified":1700000000.00,"payload":'
        b'"{\\"IV\\":\\"x\\\\\\\\y\\",\\"q\\":\\"\\\\\\"z\\\\\\"\\"}"}]'
    )
    assert user.get("/storage/notes/b").content == body[body.index(b'{"id":"b"') : -1]
    lines = user.get("/storage/notes?full=1", headers={"Accept": "application/newlines"})
    assert lines.content == body[1:-1].replace(b'},{"id"', b'}\n{"id"') + b"\n"
    assert user.get("/storage/empty?full=1").content == b"[]"


def test_partial_updates_re_render_the_stored_record(user: User, clock: Clock) -> None:
    first = [{"id": "r", "payload": "kept", "sortindex": 1}]
    assert user.post("/storage/notes", json=first).status_code == 200
    clock.advance(1)
    # sortindex alone: the stored payload is read back and the record re-rendered
    assert user.post("/storage/notes", json=[{"id": "r", "sortindex": 9}]).status_code == 200
    assert user.get("/storage/notes/r").json() == {
        "id": "r",
        "modified": 1700000001.0,
        "payload": "kept",
        "sortindex": 9,
    }
    clock.advance(1)
    # ttl alone keeps modified, so the stored bytes stand; the usage still counts the payload
    before = user.get("/storage/notes/r").content
    assert user.post("/storage/notes", json=[{"id": "r", "ttl": 3600}]).status_code == 200
    assert user.get("/storage/notes/r").content == before
    assert user.get("/info/collection_usage").json() == {"notes": 4 / 1024}
    clock.advance(1)
    # payload alone keeps the sortindex; sortindex None drops it from the output
    assert user.post("/storage/notes", json=[{"id": "r", "payload": "new"}]).status_code == 200
    assert user.get("/storage/notes/r").json()["sortindex"] == 9
    assert user.post("/storage/notes", json=[{"id": "r", "sortindex": None}]).status_code == 200
    assert "sortindex" not in user.get("/storage/notes/r").json()
    assert user.get("/storage/notes/r").json()["payload"] == "new"


def test_an_item_later_in_one_post_sees_what_an_earlier_one_made(user: User) -> None:
    items = [{"id": "r", "payload": "one", "sortindex": 4}, {"id": "r", "ttl": 60}]
    # duplicate ids in one POST are refused (docs/protocol.md §3.6): a batch takes them
    opened = user.post("/storage/notes?batch=true", json=items[:1])
    batch = opened.json()["batch"]
    assert user.post(f"/storage/notes?batch={batch}", json=items[1:]).status_code == 202
    committed = user.post(f"/storage/notes?batch={batch}&commit=true", json=[{"id": "s"}])
    assert committed.status_code == 200
    stored = user.get("/storage/notes/r").json()
    assert (stored["payload"], stored["sortindex"]) == ("one", 4)
    assert user.get("/storage/notes/s").json()["payload"] == ""


def test_offset_tokens_are_the_same_for_ids_and_full_pages(user: User, clock: Clock) -> None:
    for n in range(5):
        user.post("/storage/notes", json=[{"id": f"r{n}", "payload": "p"}])
        clock.advance(1)
    for sort in ("oldest", "newest", "index", None):
        query = "limit=2" + (f"&sort={sort}" if sort else "")
        ids = user.get(f"/storage/notes?{query}")
        full = user.get(f"/storage/notes?{query}&full=1")
        assert ids.headers["X-Weave-Next-Offset"] == full.headers["X-Weave-Next-Offset"]
        assert ids.json() == [r["id"] for r in full.json()]
        offset = ids.headers["X-Weave-Next-Offset"]
        rest = user.get(f"/storage/notes?{query}&full=1&offset={offset}").json()
        assert len(rest) == 2
        assert not {r["id"] for r in rest} & set(ids.json())


def test_responses_say_they_vary_by_origin_with_or_without_one(svc: EmbeddedService) -> None:
    with svc.client() as http:
        plain = http.get("/__lbheartbeat__")
        browser = http.get("/__lbheartbeat__", headers={"Origin": "https://example.com"})
    assert plain.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert browser.headers["Vary"] == "Origin"
    assert browser.headers["Access-Control-Allow-Origin"] == "*"
