"""Per-engine merges that keep data: history visits united, logins deduplicated and merged
field by field, autofill three-way with forks, forms immutable, prefs pref by pref, tabs one
record per device; validation repairs and refusals reported per record."""

from __future__ import annotations

import random
from typing import Any

import pytest

from beacon._errors import UsageError
from beacon.client._store import Store
from beacon.client.engines import (
    PREFS_GUID,
    AddressesEngine,
    CreditCardsEngine,
    FormsEngine,
    HistoryEngine,
    PasswordsEngine,
    PrefsEngine,
    TabsEngine,
)
from beacon.client.engines._history import MAX_VISITS
from tests.engines.conftest import Clock, incoming, tombstone

US = 1_000_000  # microseconds per second


def _ids(seed: int = 2) -> Any:
    return random.Random(seed).randbytes


# -- history -----------------------------------------------------------------------------------


def place(pid: str, url: str, *dates_s: float, title: str = "T", **extra: Any) -> dict[str, Any]:
    visits = [{"date": int(d * US), "type": 1} for d in dates_s]
    return {"id": pid, "histUri": url, "title": title, "visits": visits, **extra}


@pytest.fixture
def history(store: Store, clock: Clock) -> HistoryEngine:
    return HistoryEngine(store=store, clock=clock, rng=_ids())


def test_history_unites_visits_and_uploads_the_union(history: HistoryEngine, clock: Clock) -> None:
    t = clock.now
    history.visit("https://a.example/", title="A", at=t - 100)
    (mine,) = history.records()
    theirs = place(mine.id, "https://a.example/", t - 100, t - 50, title="A remote")
    theirs["visits"][0]["date"] += 300  # the same ms as our visit: one visit
    history.apply_incoming([incoming(theirs, t + 10)])  # edited after our visit
    (merged,) = history.records()
    assert [v.date // 1000 for v in merged.visits] == [int((t - 50) * 1000), int((t - 100) * 1000)]
    assert merged.title == "A remote"  # it brought a new visit
    (sent,) = history.outgoing()
    assert len(sent.cleartext["visits"]) == 2


def test_history_uploads_at_most_twenty_visits_the_newest(
    history: HistoryEngine, clock: Clock
) -> None:
    for i in range(25):
        history.visit("https://a.example/", at=clock.now - 1000 + i)
    (sent,) = history.outgoing()
    dates = [v["date"] for v in sent.cleartext["visits"]]
    assert len(dates) == MAX_VISITS
    assert dates == sorted(dates, reverse=True)
    assert dates[-1] == int((clock.now - 1000 + 5) * US)
    # The server's 20 are a subset of ours: nothing new either way, nothing to upload again.
    history.mark_uploaded([sent.id], clock.now)
    history.apply_incoming([incoming(dict(sent.cleartext), clock.now)])
    assert history.outgoing() == []
    assert len(history.records()[0].visits) == 25


def test_history_repairs_bad_visits_and_refuses_bad_records(
    history: HistoryEngine, clock: Clock
) -> None:
    t = clock.now
    record = place("Hx8f2LqP0aZk", "https://b.example/", t - 5)
    record["visits"] += [
        {"date": int((t + 3600) * US), "type": 2},  # future: clamped to now
        {"date": 5, "type": 1},  # before 1993: dropped
        {"date": int(t * US), "type": 42},  # unknown type: dropped
        "junk",
    ]
    bad_id = place("short", "https://c.example/", t)
    bad_url = place("Hx8f2LqP0aZz", "not a url", t)
    counts = history.apply_incoming(
        [incoming(record, t), incoming(bad_id, t), incoming(bad_url, t)]
    )
    assert (counts.applied, counts.failed) == (1, 2)
    (kept,) = history.records()
    assert sorted(v.date for v in kept.visits) == [int((t - 5) * US), int(t * 1000) * 1000]
    assert {(p.id, p.kind) for p in history.problems} == {
        ("Hx8f2LqP0aZk", "repaired"),
        ("short", "refused"),
        ("Hx8f2LqP0aZz", "refused"),
    }
    assert [r.id for r in history.outgoing()] == ["Hx8f2LqP0aZk"]  # repaired: re-uploaded


def test_history_adopts_the_remote_id_of_a_never_synced_place(
    history: HistoryEngine, clock: Clock
) -> None:
    mine = history.visit("https://a.example/", at=clock.now - 10)
    history.apply_incoming([incoming(place("RemoteGuid12", "https://a.example/", 1e9), 5.0)])
    assert [r.id for r in history.records()] == ["RemoteGuid12"]
    assert len(history.records()[0].visits) == 2
    assert mine.id not in {r.id for r in history.outgoing()}  # never synced: no tombstone


def test_history_tombstone_loses_to_a_later_local_visit(
    history: HistoryEngine, clock: Clock
) -> None:
    record = place("Hx8f2LqP0aZk", "https://a.example/", clock.now - 100)
    history.apply_incoming([incoming(record, clock.now - 100)])
    history.visit("https://a.example/", at=clock.now)
    history.apply_incoming([tombstone("Hx8f2LqP0aZk", clock.now - 50)])
    assert history.get("Hx8f2LqP0aZk") is not None
    history.mark_uploaded([r.id for r in history.outgoing()], clock.now)
    history.apply_incoming([tombstone("Hx8f2LqP0aZk", clock.now + 50)])
    assert history.get("Hx8f2LqP0aZk") is None


# -- passwords ---------------------------------------------------------------------------------


@pytest.fixture
def passwords(store: Store, clock: Clock) -> PasswordsEngine:
    return PasswordsEngine(store=store, clock=clock, rng=_ids())


def login(lid: str, **fields: Any) -> dict[str, Any]:
    base = {
        "id": lid,
        "hostname": "https://accounts.example.com",
        "formSubmitURL": "https://accounts.example.com",
        "username": "ada",
        "password": "pw-1",
        "timePasswordChanged": 1_000,
    }
    return {**base, **fields}


def test_passwords_normalise_and_refuse_as_application_services(
    passwords: PasswordsEngine,
) -> None:
    counts = passwords.apply_incoming(
        [
            incoming(
                login("a", hostname="HTTPS://Accounts.Example.com:443/path?q", timeCreated=-5), 1
            ),
            incoming(login("b", httpRealm="realm"), 1),  # both targets: the realm goes
            incoming(login("c", password=""), 1),
            incoming(login("d", formSubmitURL=None), 1),  # neither target
            incoming(login("e", timesUsed="many"), 1),
            incoming(login("f", hostname="https://a\nb"), 1),
        ]
    )
    assert (counts.applied, counts.failed) == (2, 4)
    a, b = passwords.records()
    assert (a.hostname, a.timeCreated) == ("https://accounts.example.com", 0)
    assert b.httpRealm is None
    refused = {p.id for p in passwords.problems if p.kind == "refused"}
    assert refused == {"c", "d", "e", "f"}
    assert all("pw-1" not in p.detail for p in passwords.problems)
    assert "pw-1" not in repr(a)


def test_passwords_merge_field_by_field_and_add_uses(
    passwords: PasswordsEngine, clock: Clock
) -> None:
    passwords.apply_incoming([incoming(login("a", timesUsed=3), clock.now - 100)])
    clock.tick(10)
    passwords.update("a", username="ada.l", timesUsed=5)  # two local uses
    theirs = login("a", password="pw-2", timesUsed=4, timePasswordChanged=2_000)  # one remote
    passwords.apply_incoming([incoming(theirs, clock.now - 50)])
    merged = passwords.get("a")
    assert merged is not None
    assert (merged.username, merged.password, merged.timesUsed) == ("ada.l", "pw-2", 6)
    assert [r.id for r in passwords.outgoing()] == ["a"]


def test_passwords_dedupe_a_never_synced_login_into_the_remote_id(
    passwords: PasswordsEngine,
) -> None:
    mine = passwords.add(
        "https://accounts.example.com",
        "ada",
        "pw-0",
        form_submit_url="https://accounts.example.com",
    )
    with pytest.raises(UsageError):
        passwords.add(
            "https://accounts.example.com",
            "ada",
            "again",
            form_submit_url="https://accounts.example.com",
        )
    passwords.apply_incoming([incoming(login("{remote}", timePasswordChanged=1), 5.0)])
    (only,) = passwords.records()
    assert only.id == "{remote}"
    assert only.password == "pw-0"  # ours changed its password later
    assert mine.id not in {r.id for r in passwords.outgoing()}


def test_passwords_tombstones_have_their_sortindex(passwords: PasswordsEngine) -> None:
    passwords.add("https://a.example", "u", "p", form_submit_url="")
    (live,) = passwords.outgoing()
    assert live.sortindex == 1
    passwords.delete(live.id)
    (dead,) = passwords.outgoing()
    assert (dead.cleartext["deleted"], dead.sortindex) == (True, 5_000_000)


# -- addresses and credit cards ------------------------------------------------------------------


@pytest.fixture
def addresses(store: Store, clock: Clock) -> AddressesEngine:
    return AddressesEngine(store=store, clock=clock, rng=_ids())


def address(aid: str, **entry: Any) -> dict[str, Any]:
    return {"id": aid, "entry": {"name": "Ada", "country": "GB", "version": 1, **entry}}


def test_addresses_merge_three_ways_field_by_field(
    addresses: AddressesEngine, clock: Clock
) -> None:
    addresses.apply_incoming([incoming(address("a1", timesUsed=2), clock.now - 100)])
    clock.tick(10)
    addresses.update("a1", entry={**addresses.get("a1").entry.to_wire(), "tel": "+44"})  # type: ignore[union-attr]
    addresses.mark_used("a1")
    theirs = address("a1", email="ada@example.com", timesUsed=4)
    addresses.apply_incoming([incoming(theirs, clock.now - 50)])
    (merged,) = addresses.records()
    assert (merged.entry.tel, merged.entry.email) == ("+44", "ada@example.com")
    assert merged.entry.timesUsed == 5  # 2 + 1 local + 2 remote
    assert [r.id for r in addresses.outgoing()] == ["a1"]


def test_addresses_fork_a_true_conflict_and_keep_both(
    addresses: AddressesEngine, clock: Clock
) -> None:
    addresses.apply_incoming([incoming(address("a1"), clock.now - 100)])
    clock.tick(10)
    addresses.update("a1", entry={**address("a1")["entry"], "tel": "+44 mine"})
    addresses.apply_incoming([incoming(address("a1", tel="+44 theirs"), clock.now + 50)])
    tels = sorted(r.entry.tel for r in addresses.records())
    assert tels == ["+44 mine", "+44 theirs"]
    assert addresses.get("a1").entry.tel == "+44 theirs"  # type: ignore[union-attr]
    (fork,) = addresses.outgoing()
    assert fork.id != "a1"
    assert fork.cleartext["entry"]["tel"] == "+44 mine"


def test_addresses_refuse_unknown_versions_and_tombstones_spare_edits(
    addresses: AddressesEngine, clock: Clock
) -> None:
    assert addresses.apply_incoming([incoming(address("v2", version=2), 1)]).failed == 1
    addresses.apply_incoming([incoming(address("a1"), clock.now - 100)])
    addresses.update("a1", entry={**address("a1")["entry"], "tel": "+1"})
    addresses.apply_incoming([tombstone("a1", clock.now + 100)])
    assert addresses.get("a1") is not None  # edited here: kept and re-uploaded
    addresses.mark_uploaded([r.id for r in addresses.outgoing()], clock.now + 101)
    addresses.apply_incoming([tombstone("a1", clock.now + 200)])
    assert addresses.get("a1") is None


def test_creditcards_downgrade_version_4_and_hide_the_number(store: Store, clock: Clock) -> None:
    cards = CreditCardsEngine(store=store, clock=clock, rng=_ids())
    card = {
        "id": "c1",
        "entry": {
            "cc-name": "Ada",
            "cc-number": "4111111111111111",
            "cc-exp-month": "4",
            "cc-exp-year": 2030,
            "version": 4,
        },
    }
    assert cards.apply_incoming([incoming(card, 1)]).applied == 1
    (got,) = cards.records()
    assert (got.entry.version, got.entry.cc_exp_month, got.entry.last4) == (3, 4, "1111")
    assert "4111111111111111" not in repr(got)
    (sent,) = cards.outgoing()
    assert sent.cleartext["entry"]["version"] == 3


# -- forms, prefs, tabs ------------------------------------------------------------------------


def test_forms_are_immutable_and_deduplicated(store: Store, clock: Clock) -> None:
    forms = FormsEngine(store=store, clock=clock, rng=_ids())
    mine = forms.add("q", "hello")
    assert forms.add("q", "hello").id == mine.id
    t = clock.tick(10)  # the remote writes come after our entry
    forms.apply_incoming([incoming({"id": "remoteFORM01", "name": "q", "value": "hello"}, t)])
    assert [f.id for f in forms.records()] == ["remoteFORM01"]
    forms.apply_incoming([incoming({"id": "remoteFORM01", "name": "q", "value": "changed"}, t + 1)])
    assert forms.get("remoteFORM01").value == "hello"  # type: ignore[union-attr]
    forms.apply_incoming([tombstone("remoteFORM01", t + 2)])
    assert forms.records() == []
    assert forms.outgoing() == []


def test_prefs_merge_pref_by_pref_and_drop_unsyncable_values(store: Store, clock: Clock) -> None:
    prefs = PrefsEngine(store=store, clock=clock)
    record = {"id": PREFS_GUID, "value": {"a": 1, "b": True, "c": "data:xyz", "d": [1]}}
    counts = prefs.apply_incoming(
        [incoming(record, clock.now - 100), incoming({"id": "other-app", "value": {}}, 1)]
    )
    assert (counts.applied, counts.reconciled) == (1, 1)
    assert prefs.prefs() == {"a": 1, "b": True}
    prefs.set_pref("a", 2)
    prefs.apply_incoming(
        [incoming({"id": PREFS_GUID, "value": {"a": 1, "b": False}}, clock.now - 50)]
    )
    assert prefs.prefs() == {"a": 2, "b": False}
    with pytest.raises(UsageError):
        prefs.set_pref("e", "file:///etc/passwd")


def test_tabs_one_record_per_device_never_overwritten(store: Store, clock: Clock) -> None:
    tabs = TabsEngine(store=store, clock=clock)
    own = tabs.client_id
    long_title = "é" * 400
    tabs.set_tabs(
        [
            {
                "title": long_title,
                "urlHistory": [f"https://{i}.example/" for i in range(8)],
                "lastUsed": 10,
            },
            {"title": "about", "urlHistory": ["about:config"], "lastUsed": 30},
            {"title": "new", "urlHistory": ["https://new.example/"], "lastUsed": 20.5},
        ]
    )
    (sent,) = tabs.outgoing()
    assert sent.id == own
    assert sent.ttl == 15_552_000
    titles = [t["title"] for t in sent.cleartext["tabs"]]
    assert titles[0] == "new"  # newest first; about: left out
    assert len(titles[1].encode()) <= 512
    assert titles[1].endswith("…")
    assert len(sent.cleartext["tabs"][1]["urlHistory"]) == 5
    counts = tabs.apply_incoming(
        [
            incoming({"id": own, "clientName": "impostor", "tabs": []}, clock.now),
            incoming(
                {
                    "id": "phone1234567",
                    "clientName": "phone",
                    "tabs": [
                        {"title": "x", "urlHistory": ["https://x.example/"], "lastUsed": "17"}
                    ],
                },
                clock.now,
            ),
            tombstone("phone1234567", clock.now),
        ]
    )
    assert counts.reconciled == 2
    assert [t.id for t in tabs.remote_tabs()] == ["phone1234567"]
    assert tabs.remote_tabs()[0].tabs[0].lastUsed == 17
    assert len(tabs.own_tabs().tabs) == 3
    with pytest.raises(UsageError):
        tabs.put({"id": "phone1234567", "tabs": []})  # one record per device: ours only
    with pytest.raises(UsageError):
        tabs.delete(own)


def test_history_uploads_at_most_5000_places_a_sync_tombstones_first(
    history: HistoryEngine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("beacon.client.engines._history.MAX_OUTGOING_PLACES", 3)
    places = [history.visit(f"https://{i}.example/", at=clock.now - 100 + i) for i in range(5)]
    history.delete(places[0].id)
    first = history.outgoing()
    assert [r.id for r in first] == sorted([places[0].id, places[4].id, places[3].id])
    history.mark_uploaded([r.id for r in first], clock.now)
    assert sorted(r.id for r in history.outgoing()) == sorted([places[1].id, places[2].id])


def test_no_record_plaintext_in_reprs(passwords: PasswordsEngine, store: Store) -> None:
    login_ = passwords.add("https://secret-host.example", "ada", "pw-secret", form_submit_url="")
    cards = CreditCardsEngine(store=store)
    card = cards.put({"entry": {"cc-name": "Ada", "cc-number": "4111111111111111"}})
    for value in (login_, card, card.entry, passwords, cards):
        text = repr(value) + str(value)
        for secret in ("pw-secret", "secret-host", "ada", "4111111111111111", "Ada"):
            assert secret not in text
