"""Payload evolution: every engine keeps the fields it does not understand and uploads them.

For each collection a valid record is decorated with generated unknown fields at the places the
ADR names (root; history visits; autofill ``entry``; tabs, groups and windows), then
(1) decoded and encoded by the model, and (2) applied by the engine, edited locally and taken
from ``outgoing()``: both must still hold every unknown field, with its value, where it was.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from beacon.client._store import Store
from beacon.client.engines import (
    FIREFOX_ENGINES,
    PREFS_GUID,
    AddressesEngine,
    BookmarkItem,
    BookmarksEngine,
    CreditCardsEngine,
    FormsEngine,
    HistoryEngine,
    PasswordsEngine,
    PrefsEngine,
    Tab,
    TabsEngine,
    TabsRecord,
    Visit,
)
from beacon.client.engines._autofill import AddressEntry, CreditCardEntry
from beacon.client.engines._tabs import TabGroup, TabWindow
from beacon.client.engines._wire import decode_model
from tests.engines.conftest import Clock, incoming

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
RESERVED = {"id", "deleted", "_edited"}


def unknown_fields(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.text("abcdefghijklmnopqrstuvwxyz_Z", min_size=1, max_size=10).filter(
        lambda k: k not in known and k not in RESERVED
    )
    return st.dictionaries(names, json_values, min_size=1, max_size=4)


@dataclass
class Case:
    """How to build, apply and edit one collection's record, and where its extension points are."""

    engine: Callable[[Store, Clock], Any]
    build: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]  # (root, nested) extras
    nested: Callable[[dict[str, Any]], list[dict[str, Any]]]  # the nested extension points
    edit: Callable[[Any, str], None]
    known_root: set[str]
    known_nested: set[str]


def _bookmark(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    return {
        **root,
        "id": "bookmarkAAAA",
        "type": "bookmark",
        "parentid": "unfiled",
        "parentName": "unfiled",
        "title": "A",
        "bmkUri": "https://a.example/",
        "dateAdded": 1_700_000_000_000,
    }


def _history(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    return {
        **root,
        "id": "Hx8f2LqP0aZk",
        "histUri": "https://www.mozilla.org/",
        "title": "Firefox",
        "visits": [
            {**nested, "date": 1_755_800_000_123_456, "type": 2},
            {**nested, "date": 1_755_700_000_000_000, "type": 1},
        ],
    }


def _login(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    return {
        **root,
        "id": "{5b0c4c7e-1b8e-4f38-9b0f-2f7c1a8e0d11}",
        "hostname": "https://accounts.example.com",
        "formSubmitURL": "https://accounts.example.com",
        "username": "ada",
        "password": "correct horse",
        "timeCreated": 1_700_000_000_000,
        "timePasswordChanged": 1_710_000_000_000,
    }


def _tabs(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    return {
        **root,
        "id": "otherdevice1",
        "clientName": "phone",
        "tabs": [{**nested, "title": "T", "urlHistory": ["https://a.example/"], "lastUsed": 5}],
        "tabGroups": {"g1": {**nested, "id": "g1", "name": "Reading"}},
        "windows": {"w1": {**nested, "id": "w1", "lastUsed": 1_755_812_345_000}},
    }


def _form(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    return {**root, "id": "fR4m0000abcd", "name": "searchbar-history", "value": "sync"}


def _address(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    entry = {**nested, "name": "Ada Lovelace", "country": "GB", "version": 1}
    return {**root, "id": "9a3f1c2b7e4d", "entry": entry}


def _card(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    entry = {**nested, "cc-name": "Ada", "cc-number": "4111111111111111", "version": 3}
    return {**root, "id": "c01d2e3f4a5b", "entry": entry}


def _prefs(root: dict[str, Any], nested: dict[str, Any]) -> dict[str, Any]:
    return {**root, "id": PREFS_GUID, "value": {"browser.newtabpage.enabled": False}}


def _engine(cls: Any) -> Callable[[Store, Clock], Any]:
    return lambda store, clock: cls(store=store, clock=clock, rng=random.Random(1).randbytes)


def _edit_title(engine: Any, record_id: str) -> None:
    if isinstance(engine, BookmarksEngine):
        engine.merge()  # bookmarks reach the tree when the whole download is in
    engine.update(record_id, title="edited")


def _edit_entry(engine: Any, record_id: str) -> None:
    engine.mark_used(record_id)


def _edit_prefs(engine: Any, record_id: str) -> None:
    engine.set_pref("layout.spellcheckDefault", None)


def _edit_username(engine: Any, record_id: str) -> None:
    engine.update(record_id, username="lovelace")


def _edit_form(engine: Any, record_id: str) -> None:
    engine.reset()  # forms are immutable: the record goes up again as it is


def _no_nested(record: dict[str, Any]) -> list[dict[str, Any]]:
    return []


CASES: dict[str, Case] = {
    "bookmarks": Case(_engine(BookmarksEngine), _bookmark, _no_nested, _edit_title, set(), set()),
    "history": Case(
        _engine(HistoryEngine),
        _history,
        lambda r: list(r["visits"]),
        _edit_title,
        set(),
        {"date", "type"},
    ),
    "passwords": Case(_engine(PasswordsEngine), _login, _no_nested, _edit_username, set(), set()),
    "forms": Case(_engine(FormsEngine), _form, _no_nested, _edit_form, set(), set()),
    "addresses": Case(
        _engine(AddressesEngine), _address, lambda r: [r["entry"]], _edit_entry, set(), set()
    ),
    "creditcards": Case(
        _engine(CreditCardsEngine), _card, lambda r: [r["entry"]], _edit_entry, set(), set()
    ),
    "prefs": Case(_engine(PrefsEngine), _prefs, _no_nested, _edit_prefs, set(), set()),
}


def _known(model: Any) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def _assert_kept(extras: dict[str, Any], where: dict[str, Any]) -> None:
    for key, value in extras.items():
        assert key in where, key
        assert where[key] == value


def _check(name: str, root: dict[str, Any], nested: dict[str, Any], store: Store) -> None:
    case = CASES[name]
    record = case.build(root, nested)
    clock = Clock()
    engine = case.engine(store, clock)
    engine.wipe_local()
    # (1) the model alone
    model = BookmarkItem if name == "bookmarks" else engine.model
    value, _ = decode_model(model, record, now_ms=int(clock() * 1000))
    wire = value.to_wire()
    _assert_kept(root, wire)
    for point in case.nested(wire):
        _assert_kept(nested, point)
    # (2) through the engine: applied, edited here, uploaded
    counts = engine.apply_incoming([incoming(record, clock())])
    assert counts.failed == 0
    clock.tick(5)
    case.edit(engine, record["id"])
    (sent,) = [r.cleartext for r in engine.outgoing() if r.id == record["id"]]
    _assert_kept(root, dict(sent))
    for point in case.nested(dict(sent)):
        _assert_kept(nested, point)


def _strategy(name: str) -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    case = CASES[name]
    probe = case.build({}, {})
    known_root = set(probe) | _known_for(name)
    known_nested = {k for point in case.nested(probe) for k in point} | case.known_nested
    return st.tuples(unknown_fields(known_root), unknown_fields(known_nested | _nested_known(name)))


def _known_for(name: str) -> set[str]:
    model: Any = BookmarkItem if name == "bookmarks" else FIREFOX_ENGINES[name].model
    return _known(model)


def _nested_known(name: str) -> set[str]:
    return {
        "history": _known(Visit),
        "addresses": _known(AddressEntry),
        "creditcards": _known(CreditCardEntry),
    }.get(name, set())


@given(extras=_strategy("bookmarks"))
def test_bookmarks_keep_unknown_fields(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("bookmarks", *extras, shared_store)


@given(extras=_strategy("history"))
def test_history_keeps_unknown_fields_at_the_root_and_in_visits(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("history", *extras, shared_store)


@given(extras=_strategy("passwords"))
def test_passwords_keep_unknown_fields(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("passwords", *extras, shared_store)


@given(extras=_strategy("forms"))
def test_forms_keep_unknown_fields(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("forms", *extras, shared_store)


@given(extras=_strategy("addresses"))
def test_addresses_keep_unknown_fields_in_entry(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("addresses", *extras, shared_store)


@given(extras=_strategy("creditcards"))
def test_creditcards_keep_unknown_fields_in_entry(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("creditcards", *extras, shared_store)


@given(extras=_strategy("prefs"))
def test_prefs_keep_unknown_fields(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    _check("prefs", *extras, shared_store)


def _tab_strategy() -> st.SearchStrategy[tuple[dict[str, Any], dict[str, Any]]]:
    nested_known = _known(Tab) | _known(TabGroup) | _known(TabWindow)
    return st.tuples(unknown_fields(_known(TabsRecord)), unknown_fields(nested_known))


@given(extras=_tab_strategy())
def test_tabs_of_other_devices_keep_unknown_fields_everywhere(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    # Tabs are never re-uploaded for another device: the stored record must keep them all.
    root, nested = extras
    record = _tabs(root, nested)
    clock = Clock()
    engine = TabsEngine(store=shared_store, clock=clock)
    engine.wipe_local()
    assert engine.apply_incoming([incoming(record, clock())]).failed == 0
    (theirs,) = engine.remote_tabs()
    wire = theirs.to_wire()
    _assert_kept(root, wire)
    for point in (wire["tabs"][0], wire["tabGroups"]["g1"], wire["windows"]["w1"]):
        _assert_kept(nested, point)


@given(extras=_tab_strategy())
def test_our_own_tabs_keep_unknown_fields_on_upload(
    extras: tuple[dict[str, Any], dict[str, Any]], shared_store: Store
) -> None:
    root, nested = extras
    engine = TabsEngine(store=shared_store, clock=Clock())
    engine.wipe_local()
    tab = {**nested, "title": "T", "urlHistory": ["https://a.example/"], "lastUsed": 5}
    engine.set_tabs([tab], **root)
    (sent,) = engine.outgoing()
    _assert_kept(root, dict(sent.cleartext))
    _assert_kept(nested, sent.cleartext["tabs"][0])
