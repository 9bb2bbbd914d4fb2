"""Nothing a server sends crashes, poisons or stalls a device: one bad response, then healing.

Each test changes exactly one response of a real sync against the embedded service and checks
that the run fails with a beacon error of the server's fault (never a Python error, never
UsageError/ChartError), that nothing bad was kept, and that the next clean syncs converge.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from beacon import BeaconError, ProtocolViolation, UsageError
from beacon.cli import main
from beacon.client._session_service import AUTH_FAILURE_BACKOFF
from tests.client.sync_world import Device, World, tail

DEEP = b"[" * 5000 + b"]" * 5000

Match = Callable[[httpx.Request], bool]
Change = Callable[[int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def change_once(world: World, device: Device, match: Match, change: Change) -> list[int]:
    """Answer the first request ``match`` accepts with the service's answer, ``change``d."""
    fired: list[int] = []

    def hook(request: httpx.Request) -> httpx.Response | None:
        if fired or not match(request):
            return None
        fired.append(1)
        real = world.svc.transport().handle_request(request)
        real.read()
        headers = {k.lower(): v for k, v in real.headers.items()}
        headers.pop("content-length", None)
        status, headers, body = change(real.status_code, headers, real.content)
        return httpx.Response(status, headers=headers, content=body)

    device.wire.before.append(hook)
    return fired


def token(request: httpx.Request) -> bool:
    return request.url.path.endswith("/1.0/sync/1.5")


def resource(method: str, path: str) -> Match:
    return lambda request: request.method == method and tail(request.url.path) == path


def body(new: bytes) -> Change:
    return lambda status, headers, _: (status, headers, new)


def header(name: str, value: str) -> Change:
    return lambda status, headers, content: (status, {**headers, name: value}, content)


def converges(world: World, *devices: Device) -> None:
    """A few clean syncs: every device then holds exactly the server's notes."""
    # Past any short backoff the bad answer asked for, and past the wait after a refusal (a
    # 401 with a garbage body is a refusal all the same).
    world.clock.advance(AUTH_FAILURE_BACKOFF + 1)
    for _ in range(2):
        for device in devices:
            device.client.sync()
    on_server = set(world.svc.faults.records(world.fxa_uid, "notes"))
    held = [dict(device.notes.records()) for device in devices]
    for records in held:
        assert set(records) == on_server
        assert records == held[0]


def fails_as_protocol_violation(device: Device) -> ProtocolViolation:
    with pytest.raises(BeaconError) as caught:
        device.client.sync()
    assert isinstance(caught.value, ProtocolViolation), repr(caught.value)
    assert not isinstance(caught.value, UsageError)
    return caught.value


@pytest.fixture
def pair(world: World) -> tuple[Device, Device]:
    """Device b has written a note; device a is new and has one of its own to upload."""
    b = world.device("b")
    b.notes.put("from-b", {"text": "b"})
    b.client.sync()
    a = world.device("a")
    a.notes.put("from-a", {"text": "a"})
    return a, b


# -- 1. deep nesting anywhere ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("match", "status"),
    [
        pytest.param(token, None, id="token-200"),
        pytest.param(token, 401, id="token-401-error-body"),
        pytest.param(token, 503, id="token-503-error-body"),
        pytest.param(resource("GET", "info/collections"), None, id="info-collections"),
        pytest.param(resource("GET", "storage/notes"), None, id="listing"),
        pytest.param(resource("GET", "storage/crypto/keys"), None, id="crypto-keys"),
        pytest.param(resource("POST", "storage/notes"), None, id="post-result"),
    ],
)
def test_a_body_nested_5000_deep_is_a_beacon_error_and_heals(
    world: World, pair: tuple[Device, Device], match: Match, status: int | None
) -> None:
    a, b = pair
    change_once(world, a, match, lambda s, h, _: (status or s, h, DEEP))
    with pytest.raises(BeaconError) as caught:
        a.client.sync()
    assert not isinstance(caught.value, UsageError)
    converges(world, a, b)


def test_a_meta_global_nested_5000_deep_is_unusable_not_a_crash(
    world: World, pair: tuple[Device, Device]
) -> None:
    a, b = pair
    poisoned = b'{"id":"global","modified":1.0,"payload":"' + b"[" * 5000 + b'"}'
    fired = change_once(world, a, resource("GET", "storage/meta/global"), body(poisoned))
    result = a.client.sync()  # unusable meta/global: storage is set up afresh, once
    assert fired
    assert "fresh_start" in result.states
    assert a.client.sync().requests == 1  # no loop: the next run is the one-request run
    converges(world, a, b)


@pytest.mark.parametrize(
    "declined", [True, -1, 1e308, "notes", {"notes": 1}, {"notes": {"syncID": 5, "version": 1}}]
)
@pytest.mark.parametrize("field", ["declined", "engines"])
def test_a_meta_global_field_of_the_wrong_type_is_read_as_empty_not_a_crash_or_a_stall(
    world: World, pair: tuple[Device, Device], field: str, declined: object
) -> None:
    a, b = pair

    def retype(
        status: int, headers: dict[str, str], content: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        bso = json.loads(content)
        record = json.loads(bso["payload"])
        record[field] = declined  # any device of the account can write this, in plaintext
        bso["payload"] = json.dumps(record)
        return status, headers, json.dumps(bso).encode()

    change_once(world, a, resource("GET", "storage/meta/global"), retype)
    a.client.sync()  # was: TypeError: 'bool' object is not iterable
    converges(world, a, b)


# -- 2. server timestamps are bounded ----------------------------------------------------------


@pytest.mark.parametrize("value", ["1e13", "900000000000.00"])
@pytest.mark.parametrize(
    "match",
    [
        pytest.param(resource("GET", "info/collections"), id="info-collections"),
        pytest.param(resource("GET", "storage/notes"), id="listing"),
        pytest.param(resource("POST", "storage/notes"), id="commit"),
    ],
)
def test_a_last_modified_after_the_servers_clock_is_refused_and_never_kept(
    world: World, pair: tuple[Device, Device], match: Match, value: str
) -> None:
    a, b = pair
    change_once(world, a, match, header("x-last-modified", value))
    fails_as_protocol_violation(a)
    kept = a.client.store.info_collections()
    assert kept is None or kept.timestamp < 1e10
    assert all((s.last_fetch or 0) < 1e10 for s in a.client.store.collection_states().values())
    # Later syncs work, and b's later writes still reach a (no mark ahead of them).
    a.client.sync()
    b.notes.put("later-from-b", {"text": "after the bad answer"})
    b.client.sync()
    a.client.sync()
    assert a.notes.get("later-from-b") == {"id": "later-from-b", "text": "after the bad answer"}
    converges(world, a, b)


def test_a_server_clock_years_ahead_is_refused(world: World, pair: tuple[Device, Device]) -> None:
    a, b = pair
    ahead = f"{world.clock.now + 10 * 365 * 86400:.2f}"

    def both(
        status: int, headers: dict[str, str], content: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        return status, {**headers, "x-weave-timestamp": ahead, "x-last-modified": ahead}, content

    change_once(world, a, resource("GET", "info/collections"), both)
    assert "ahead of our clock" in str(fails_as_protocol_violation(a))
    converges(world, a, b)


def test_a_timestamp_in_a_body_after_the_servers_clock_is_refused(
    world: World, pair: tuple[Device, Device]
) -> None:
    a, b = pair
    change_once(world, a, resource("GET", "info/collections"), body(b'{"notes": 900000000000.0}'))
    fails_as_protocol_violation(a)
    converges(world, a, b)


# -- 3. paging ends ------------------------------------------------------------------------------


def test_a_repeated_next_offset_ends_the_download_at_the_first_repeat(world: World) -> None:
    b = world.device("b")
    for i in range(5):
        b.notes.put(f"n{i}", {"text": str(i)})
    b.client.sync()
    a = world.device("a")
    listing = resource("GET", "storage/notes")

    answered: list[int] = []

    def stuck(request: httpx.Request) -> httpx.Response | None:
        # Every page says "more, from position 0" (a valid offset): the first page again.
        # After 50 pages the hook gives up, so that a client that never stops fails fast.
        if not listing(request) or len(answered) >= 50:
            return None
        answered.append(1)
        real = world.svc.transport().handle_request(request)
        real.read()
        headers = {k: v for k, v in real.headers.items() if k.lower() != "content-length"}
        headers["X-Weave-Next-Offset"] = "0"
        return httpx.Response(real.status_code, headers=headers, content=real.content)

    a.wire.before.append(stuck)
    sent_before = len(a.wire.sent)
    assert "paging would not end" in str(fails_as_protocol_violation(a))
    listings = [p for m, p in a.wire.sent[sent_before:] if tail(p) == "storage/notes"]
    assert len(listings) == 2  # the first page, then the one that repeats its offset
    a.wire.before.remove(stuck)
    converges(world, a, b)


# -- a record that failed verification once (the collection chart's refetching) ------------------


# Found by test_malformed_responses.py; the collection chart's refetching state fixed it.
def test_a_record_corrupted_in_transit_is_fetched_again(
    world: World, pair: tuple[Device, Device]
) -> None:
    a, b = pair
    a.client.sync()
    b.notes.put("corrupted-once", {"text": "b"})
    b.client.sync()

    def corrupt(
        status: int, headers: dict[str, str], content: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        listing = json.loads(content)
        for bso in listing:
            bso["payload"] = bso["payload"].replace('"IV":', '"IV": "AAAA", "x":', 1)
        return status, headers, json.dumps(listing).encode()

    change_once(world, a, resource("GET", "storage/notes"), corrupt)
    result = a.client.sync()
    assert result.engines["notes"]["failed_ids"] == ["corrupted-once"]  # reported, not silent
    converges(world, a, b)  # but never fetched again: a lacks it for good


# -- the command line ---------------------------------------------------------------------------


class _DeepTokenServer(http.server.BaseHTTPRequestHandler):
    """A token server whose every answer is a 401 with a body nested 5,000 deep."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(DEEP)))
        self.end_headers()
        self.wfile.write(DEEP)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_beacon_sync_json_prints_one_json_object_for_a_deep_error_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DeepTokenServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        argv = ["sync", "--token-server", url, "--access-token", "t", "--kb", "00" * 32]
        argv += ["--keys-changed-at", "1", "--state", str(tmp_path / "state"), "--json"]
        assert main(argv) == 3  # authentication
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=60)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert report["error"]["kind"] == "authentication"
