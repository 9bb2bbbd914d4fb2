"""Send tab between two beacon devices on the embedded FxA stand-in: registration with the
open-uri command, the device list, the encrypted tab, polling without repeats, and the
errors a tampered payload, a stale key or a bad target give."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from beacon import ProtocolViolation, TrustError, UsageError
from beacon._scoped_keys import b64url
from beacon.fxa import FirefoxAccount, MemoryStore
from beacon.fxa._devices import DeviceCommandUnavailable, FxADevices, UnknownDevice
from beacon.fxa._send_tab_crypto import (
    OPEN_URI,
    CommandKeys,
    encrypt_payload,
    open_published_keys,
)
from tests.fxa.conftest import EMAIL, PASSWORD, FxAWorld


@dataclass
class Pair:
    world: FxAWorld
    laptop: FxADevices
    phone: FxADevices
    laptop_store: MemoryStore
    phone_store: MemoryStore


def _signed_in(world: FxAWorld, seed: int) -> MemoryStore:
    store = MemoryStore()
    account = FirefoxAccount(
        store,
        auth_server_url=world.svc.auth_server_url,
        transport=world.transport,
        clock=world.clock,
        rng=random.Random(seed).randbytes,
    )
    assert account.sign_in(EMAIL, PASSWORD).outcome == "married"
    account.close()
    return store


@pytest.fixture
def pair(fxa_world: FxAWorld) -> Iterator[Pair]:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD)
    laptop_store, phone_store = _signed_in(fxa_world, 11), _signed_in(fxa_world, 12)

    def devices(store: MemoryStore, name: str, seed: int) -> FxADevices:
        return FxADevices(
            store,
            transport=fxa_world.svc.transport(),
            name=name,
            clock=fxa_world.clock,
            rng=random.Random(seed).randbytes,
        )

    laptop = devices(laptop_store, "Laptop", 21)
    phone = devices(phone_store, "Phone", 22)
    yield Pair(fxa_world, laptop, phone, laptop_store, phone_store)
    laptop.close()
    phone.close()


def test_two_devices_register_with_the_open_uri_command_and_list_each_other(pair: Pair) -> None:
    pair.laptop.register()
    listed = pair.phone.devices()
    by_name = {d.name: d for d in listed}
    assert set(by_name) == {"Laptop", "Phone"}
    assert by_name["Phone"].is_current
    assert not by_name["Laptop"].is_current
    assert all(d.can_receive_tabs for d in listed)
    published = json.loads(by_name["Laptop"].available_commands[OPEN_URI])
    assert set(published) == {"kid", "IV", "hmac", "ciphertext"}


def test_a_tab_sent_to_the_other_device_arrives_decrypted_with_title_and_url(pair: Pair) -> None:
    pair.phone.register()
    target = pair.laptop.send_tab("Phone", "https://example.com/a?b=1", title="Example A")
    assert target.name == "Phone"
    polled = pair.phone.poll_tabs()
    assert polled.failures == ()
    assert [(t.url, t.title, t.sender_name) for t in polled.tabs] == [
        ("https://example.com/a?b=1", "Example A", "Laptop")
    ]
    # and back, addressed by id this time
    laptop_id = next(d.id for d in pair.phone.devices() if d.name == "Laptop")
    pair.phone.send_tab(laptop_id, "https://example.org/")
    assert [t.url for t in pair.laptop.poll_tabs().tabs] == ["https://example.org/"]


def test_the_index_advances_so_no_tab_is_received_twice(pair: Pair) -> None:
    pair.phone.register()
    for n in range(3):
        pair.laptop.send_tab("Phone", f"https://example.com/{n}")
    first = pair.phone.poll_tabs()
    assert [t.url for t in first.tabs] == [f"https://example.com/{n}" for n in range(3)]
    assert pair.phone.poll_tabs().tabs == ()
    pair.laptop.send_tab("Phone", "https://example.com/later")
    assert [t.url for t in pair.phone.poll_tabs().tabs] == ["https://example.com/later"]
    # the index and the tabs survive in the account's store (a later process)
    again = FxADevices(pair.phone_store, transport=pair.world.svc.transport(), name="Phone")
    assert again.poll_tabs().tabs == ()
    assert len(again.received_tabs()) == 4
    again.close()


def test_more_tabs_than_one_page_are_all_received_in_order(pair: Pair) -> None:
    pair.phone.register()
    for n in range(105):
        pair.laptop.send_tab("Phone", f"https://example.com/{n}")
    urls = [t.url for t in pair.phone.poll_tabs().tabs]
    assert urls == [f"https://example.com/{n}" for n in range(105)]


def _tamper(pair: Pair) -> None:
    """Flip one byte of the newest queued command's ciphertext, in the stand-in's table."""
    with pair.world.svc.fxa.db.transaction() as conn:
        idx, payload = conn.execute(
            "SELECT idx, payload FROM fxa_device_commands ORDER BY idx DESC LIMIT 1"
        ).fetchone()
        body = json.loads(payload)
        text = body["encrypted"]
        middle = len(text) // 2
        swapped = "A" if text[middle] != "A" else "B"
        body["encrypted"] = text[:middle] + swapped + text[middle + 1 :]
        conn.execute(
            "UPDATE fxa_device_commands SET payload = ? WHERE idx = ?", (json.dumps(body), idx)
        )


def test_a_tampered_tab_is_a_trust_error_and_the_good_ones_are_kept(pair: Pair) -> None:
    pair.phone.register()
    pair.laptop.send_tab("Phone", "https://example.com/good")
    pair.laptop.send_tab("Phone", "https://example.com/bad")
    _tamper(pair)
    polled = pair.phone.poll_tabs()
    assert [t.url for t in polled.tabs] == ["https://example.com/good"]
    assert len(polled.failures) == 1
    assert isinstance(polled.failures[0][1], TrustError)
    with pytest.raises(TrustError, match="does not decrypt"):
        polled.check()
    assert pair.phone.poll_tabs().failures == ()  # skipped once, not retried forever


def test_a_tab_sent_to_keys_the_device_no_longer_has_does_not_decrypt(pair: Pair) -> None:
    pair.phone.register()
    pair.laptop.send_tab("Phone", "https://example.com/")
    state = pair.phone_store.load()
    assert state is not None
    assert state.device is not None
    fresh = CommandKeys.generate(rng=random.Random(5).randbytes)
    state.device = state.device.model_copy(
        update={"private_key": b64url(fresh.private_key), "published_kid": state.kid}
    )
    pair.phone_store.save(state)
    failures = pair.phone.poll_tabs().failures
    assert len(failures) == 1
    assert isinstance(failures[0][1], TrustError)


def test_keys_published_under_other_account_keys_are_refused(pair: Pair) -> None:
    pair.phone.register()
    state = pair.laptop_store.load()
    assert state is not None
    assert state.kid is not None
    stamp, _, _ = state.kid.partition("-")
    state.kid = f"{stamp}-AAAAAAAAAAAAAAAAAAAAAA"  # another kXCS: the phone's kid differs
    pair.laptop_store.save(state)
    with pytest.raises(TrustError, match="other account keys"):
        pair.laptop.send_tab("Phone", "https://example.com/")


def test_a_forged_published_key_fails_its_hmac(pair: Pair) -> None:
    pair.phone.register()
    with pair.world.svc.fxa.db.transaction() as conn:
        ident, commands = conn.execute(
            "SELECT id, commands FROM fxa_devices WHERE name = 'Phone'"
        ).fetchone()
        table = json.loads(commands)
        bundle = json.loads(table[OPEN_URI])
        bundle["hmac"] = "0" * 64
        table[OPEN_URI] = json.dumps(bundle)
        conn.execute("UPDATE fxa_devices SET commands = ? WHERE id = ?", (json.dumps(table), ident))
    with pytest.raises(TrustError, match="do not verify"):
        pair.laptop.send_tab("Phone", "https://example.com/")


def test_unknown_targets_and_devices_without_the_command_are_clear_errors(pair: Pair) -> None:
    pair.phone.register()
    with pytest.raises(UsageError, match="no device named"):
        pair.laptop.send_tab("Tablet", "https://example.com/")
    with pytest.raises(UsageError, match="this device"):
        pair.laptop.send_tab("Laptop", "https://example.com/")
    # the server's own checks (a client that skips the list)
    state = pair.laptop_store.load()
    assert state is not None
    body = {"command": OPEN_URI, "target": "0" * 32, "payload": {"encrypted": "x"}}
    with pytest.raises(UnknownDevice):
        pair.laptop._request(state, "POST", "account/devices/invoke_command", body)
    phone_id = next(d.id for d in pair.laptop.devices() if d.name == "Phone")
    body = {"command": "https://example.com/cmd/nope", "target": phone_id, "payload": {}}
    with pytest.raises(DeviceCommandUnavailable):
        pair.laptop._request(state, "POST", "account/devices/invoke_command", body)


class Hostile(httpx.BaseTransport):
    """The stand-in, except that the commands page answers ``body``."""

    def __init__(self, inner: httpx.BaseTransport, body: bytes) -> None:
        self.inner, self.body = inner, body

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/account/device/commands"):
            return httpx.Response(200, content=self.body)
        return self.inner.handle_request(request)


@pytest.mark.parametrize(
    "body",
    [
        b'{"index": "one", "last": true, "messages": []}',
        b'{"index": 1, "last": true, "messages": {}}',
        b'{"index": 1, "last": true, "messages": [{"index": 2, "data": {"command": 1}}]}',
        b'{"index": 1, "last": true, "messages": [{"index": 2}]}',
        b"[]",
        b"not json",
    ],
)
def test_a_malformed_commands_page_is_a_protocol_violation(pair: Pair, body: bytes) -> None:
    pair.phone.register()
    hostile = FxADevices(pair.phone_store, transport=Hostile(pair.world.svc.transport(), body))
    with pytest.raises(ProtocolViolation):
        hostile.poll_tabs()
    hostile.close()
    state = pair.phone_store.load()
    assert state is not None
    assert state.device is not None
    assert state.device.command_index == 0


def test_a_decrypted_tab_without_a_url_is_a_protocol_violation(pair: Pair) -> None:
    pair.phone.register()
    phone = next(d for d in pair.laptop.devices() if d.name == "Phone")
    state = pair.laptop_store.load()
    assert state is not None
    assert state.ksync is not None
    assert state.kid is not None
    keys = open_published_keys(
        phone.available_commands[OPEN_URI], bytes.fromhex(state.ksync), state.kid
    )
    encrypted = encrypt_payload(keys, {"entries": [{"title": "no url"}]})
    body = {"command": OPEN_URI, "target": phone.id, "payload": {"encrypted": encrypted}}
    pair.laptop._request(state, "POST", "account/devices/invoke_command", body)
    failures = pair.phone.poll_tabs().failures
    assert len(failures) == 1
    assert isinstance(failures[0][1], ProtocolViolation)


def test_signing_out_forgets_the_device_and_its_keys(pair: Pair) -> None:
    pair.phone.register()
    account = FirefoxAccount(
        pair.phone_store,
        auth_server_url=pair.world.svc.auth_server_url,
        transport=pair.world.transport,
        clock=pair.world.clock,
    )
    account.sign_out()
    account.close()
    assert pair.phone_store.load() is None
    assert [d.name for d in pair.laptop.devices()] == ["Laptop"]  # its tokens went with it
