"""Valid edits and comparable views for Firefox's typed engines, for the campaign.

Contract:

* :func:`typed_engine` builds the typed engine of a Firefox collection (``bookmarks``,
  ``history``, ``passwords``, ``tabs``, ``forms``, ``addresses``, ``creditcards``, ``prefs``),
  or returns None for another name (the campaign's plain :class:`~beacon.RecordEngine`).
* :func:`edit` and :func:`delete` turn the campaign's ``edit(device, engine, record, value)``
  and ``delete(...)`` steps into one valid local change through the engine's own API: the
  record slot (``r0``...) picks which item (a bookmark with a fixed id in a root folder, a
  history page, a login for one origin, the device's tab list, a form field, an address, a
  card, a pref) and the value what it becomes, so a shrunk example still names them. A
  change the engine refuses as a duplicate is a no-op, never an error.
* :func:`view` is what a device reads through the engine API, as JSON-able data two devices
  must agree on after a quiet period: the bookmark tree, each page's visits, the logins, the
  form entries, addresses, cards, the prefs. Tabs and clients are per device, so
  :func:`device_tabs` and :func:`known_clients` give what each device says about everyone.
* :func:`tree_problems` lists the problems of a device's local bookmark tree (none when valid);
  :func:`check_typed` is the typed engines' oracle after a quiet period.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from beacon._errors import UsageError
from beacon.testing._invariants import InvariantViolation

__all__ = [
    "FIREFOX_COLLECTIONS",
    "check_typed",
    "delete",
    "device_tabs",
    "edit",
    "known_clients",
    "tree_problems",
    "typed_engine",
    "view",
]

#: Firefox's collections with a typed engine (clients is synced by every SyncClient).
FIREFOX_COLLECTIONS: tuple[str, ...] = (
    "bookmarks",
    "history",
    "passwords",
    "tabs",
    "forms",
    "addresses",
    "creditcards",
    "prefs",
)

_ROOTS = ("toolbar", "menu", "unfiled")
_PLACES = "places"


def typed_engine(name: str, *, clock: Callable[[], float], rng: Callable[[int], bytes]) -> Any:
    """A new typed engine for collection ``name``, or None when beacon has none for it."""
    from beacon.client.engines import FIREFOX_ENGINES

    cls = FIREFOX_ENGINES.get(name)
    if cls is None:
        return None
    if name == "prefs":
        return cls(clock=clock)
    return cls(clock=clock, rng=rng)


def _guid(kind: str, record: str) -> str:
    """A fixed 12-character Sync id for one record slot (``bkr0________``)."""
    return f"{kind}{record}".ljust(12, "_")[:12]


def _url(record: str) -> str:
    return f"https://{record}.example/"


def edit(engine: Any, name: str, record: str, text: str, value: int) -> None:
    """One valid local change of slot ``record`` to ``text`` (see the module docstring)."""
    # A duplicate the engine refuses, or a slot it cannot hold: nothing changes.
    with contextlib.suppress(UsageError):
        _EDITS[name](engine, record, text, value)


def delete(engine: Any, name: str, record: str) -> None:
    """Delete slot ``record``'s item (no-op when absent)."""
    with contextlib.suppress(UsageError):
        _DELETES[name](engine, record)


# -- per engine ----------------------------------------------------------------------------


def _edit_bookmark(engine: Any, record: str, text: str, value: int) -> None:
    item_id = _guid("bk", record)
    folder = _ROOTS[value % len(_ROOTS)]
    if engine.get(item_id) is None:
        engine.create_bookmark(folder, _url(record), title=text, id=item_id)
        return
    engine.update(item_id, title=text)
    if value % 2:
        engine.move(item_id, folder)


def _delete_bookmark(engine: Any, record: str) -> None:
    engine.delete(_guid("bk", record))


def _edit_history(engine: Any, record: str, text: str, value: int) -> None:
    engine.visit(_url(record), title=text, type=1 + value % 2)


def _delete_history(engine: Any, record: str) -> None:
    page = engine.by_url(_url(record))
    if page is not None:
        engine.delete(page.id)


def _login_of(engine: Any, record: str) -> Any:
    origin = _url(record).rstrip("/")
    return next((login for login in engine.records() if login.hostname == origin), None)


def _edit_login(engine: Any, record: str, text: str, value: int) -> None:
    login = _login_of(engine, record)
    if login is None:
        origin = _url(record).rstrip("/")
        engine.add(origin, "user", text, form_submit_url=origin)
    else:
        engine.update(login.id, password=text)


def _delete_login(engine: Any, record: str) -> None:
    login = _login_of(engine, record)
    if login is not None:
        engine.delete(login.id)


def _edit_tabs(engine: Any, record: str, text: str, value: int) -> None:
    tab = {"title": text, "urlHistory": [_url(record)], "lastUsed": value}
    engine.set_tabs([tab])


def _delete_tabs(engine: Any, record: str) -> None:
    engine.set_tabs([])  # tabs have no tombstones: the device closes its tabs


def _edit_form(engine: Any, record: str, text: str, value: int) -> None:
    engine.add(record, text)


def _delete_form(engine: Any, record: str) -> None:
    for entry in engine.records():
        if entry.name == record:
            engine.delete(entry.id)


def _edit_address(engine: Any, record: str, text: str, value: int) -> None:
    engine.put({"id": _guid("ad", record), "entry": {"name": text, "country": "GB"}})


def _edit_card(engine: Any, record: str, text: str, value: int) -> None:
    entry = {
        "cc-name": text,
        "cc-number": "4111111111111111",
        "cc-exp-month": 1 + value % 12,
        "cc-exp-year": 2030,
    }
    engine.put({"id": _guid("cc", record), "entry": entry})


def _delete_by(kind: str) -> Callable[[Any, str], None]:
    def delete(engine: Any, record: str) -> None:
        engine.delete(_guid(kind, record))

    return delete


def _edit_pref(engine: Any, record: str, text: str, value: int) -> None:
    engine.set_pref(f"campaign.{record}", text)


def _delete_pref(engine: Any, record: str) -> None:
    engine.set_pref(f"campaign.{record}", None)  # reset to the default everywhere


_EDITS: dict[str, Callable[[Any, str, str, int], None]] = {
    "bookmarks": _edit_bookmark,
    "history": _edit_history,
    "passwords": _edit_login,
    "tabs": _edit_tabs,
    "forms": _edit_form,
    "addresses": _edit_address,
    "creditcards": _edit_card,
    "prefs": _edit_pref,
}
_DELETES: dict[str, Callable[[Any, str], None]] = {
    "bookmarks": _delete_bookmark,
    "history": _delete_history,
    "passwords": _delete_login,
    "tabs": _delete_tabs,
    "forms": _delete_form,
    "addresses": _delete_by("ad"),
    "creditcards": _delete_by("cc"),
    "prefs": _delete_pref,
}


# -- what a device reads -------------------------------------------------------------------


def view(engine: Any, name: str) -> Any:
    """What the device reads through the engine API (tabs: see :func:`device_tabs`)."""
    if name == "bookmarks":
        return engine.tree()
    if name == "prefs":
        return engine.prefs()
    if name == "tabs":
        return None
    wires = [r.to_wire() for r in engine.records()]
    if name == "history":
        # Newest first is all the order there is: visits of the same instant (a fake clock
        # that did not move) may come in either order on two devices.
        for wire in wires:
            wire["visits"] = sorted(wire.get("visits", []), key=lambda v: (-v["date"], v["type"]))
    return sorted(json.dumps(w, sort_keys=True) for w in wires)


def device_tabs(engine: Any) -> tuple[str, list[Any], dict[str, list[Any]]]:
    """(our client id, our tabs, the other devices' tabs by client id), as wire JSON."""
    own = list(engine.own_tabs().to_wire().get("tabs", []))
    others = {str(r.id): list(r.to_wire().get("tabs", [])) for r in engine.remote_tabs()}
    return str(engine.client_id), own, others


def known_clients(client: Any) -> set[str]:
    """Every client id the device knows of, its own included (the clients collection)."""
    clients = next(e for e in client.engines if e.name == "clients")
    return {str(c.get("id")) for c in clients.clients()} | {clients.client_id}


def tree_problems(engine: Any) -> list[str]:
    """What is wrong with the device's local bookmark tree (empty when it is a valid tree):
    every item's parent is a live folder that lists it once, every listed child exists and
    names that folder, and every item is reachable from the places root."""
    items = {item.id: item for item in engine.items()}
    problems: list[str] = []
    roots = [i for i, item in items.items() if item.parentid == _PLACES and i != _PLACES]
    for item in items.values():
        if item.id == _PLACES or item.parentid == _PLACES:
            continue  # the root and its four folders (items() may leave the root out)
        parent = items.get(item.parentid or "")
        if parent is None or not parent.is_folder:
            problems.append(f"{item.id}: parent {item.parentid!r} is not a folder")
        elif (parent.children or []).count(item.id) != 1:
            problems.append(f"{item.id}: not listed once by its parent {item.parentid!r}")
    for item in items.values():
        if item.id == _PLACES:
            continue
        for child in item.children or []:
            if child not in items or items[child].parentid != item.id:
                problems.append(f"{item.id}: lists {child!r}, which is not its child")
    reached: set[str] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current in reached or current not in items:
            continue
        reached.add(current)
        todo.extend(items[current].children or [])
    stray = sorted(set(items) - reached - {_PLACES})
    problems += [f"{i}: unreachable from the root" for i in stray]
    return problems


def check_typed(typed: frozenset[str], devices: Sequence[Any]) -> None:
    """``convergence`` and ``bookmark_tree`` after a quiet period, for the typed engines of
    ``devices`` (each with ``engines`` by name and its ``client``): every device reads the
    same through the engine API, the bookmark trees are valid, each device shows every other
    device's tabs as that device has them, and every device knows the same clients."""
    for engine in sorted(typed):
        if engine == "clients":
            known = [known_clients(d.client) for d in devices]
            ids = {d.client.engines[0].client_id for d in devices}
            for index, seen in enumerate(known):
                if seen != known[0] or not ids <= seen:
                    raise InvariantViolation(
                        "convergence",
                        f"engine 'clients': device {index} knows {len(seen)} clients, "
                        f"device 0 {len(known[0])}, of {len(ids)} devices",
                    )
            continue
        if engine == "tabs":
            tabs = [device_tabs(d.engines["tabs"]) for d in devices]
            for index, (_own_id, _own, others) in enumerate(tabs):
                for other, (other_id, other_own, _) in enumerate(tabs):
                    if other != index and others.get(other_id, []) != other_own:
                        raise InvariantViolation(
                            "convergence",
                            f"engine 'tabs': device {index} shows device {other}'s tabs "
                            "other than that device has them",
                        )
            continue
        views = [view(d.engines[engine], engine) for d in devices]
        for index, seen in enumerate(views):
            if seen != views[0]:
                raise InvariantViolation(
                    "convergence",
                    f"engine {engine!r}: device {index} reads other records than device 0 "
                    "after a quiet period",
                )
        if engine == "bookmarks":
            for index, device in enumerate(devices):
                problems = tree_problems(device.engines[engine])
                if problems:
                    raise InvariantViolation(
                        "bookmark_tree",
                        f"device {index}: the bookmark tree is not valid ({problems[0]})",
                    )
