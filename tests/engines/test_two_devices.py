"""Two devices on one account, all eight Firefox collections plus clients, through the
embedded Sync 1.5 service in-process: they converge, and a third device that only downloads
ends up with the same data (so the server holds it too)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from beacon import Engine, SyncClient
from beacon.client.engines import (
    AddressesEngine,
    BookmarksEngine,
    CreditCardsEngine,
    FormsEngine,
    HistoryEngine,
    PasswordsEngine,
    PrefsEngine,
    TabsEngine,
)
from tests.client.sync_world import World


@dataclass
class Firefox:
    """One device with every typed engine."""

    client: SyncClient
    bookmarks: BookmarksEngine
    history: HistoryEngine
    passwords: PasswordsEngine
    tabs: TabsEngine
    forms: FormsEngine
    addresses: AddressesEngine
    creditcards: CreditCardsEngine
    prefs: PrefsEngine

    def sync(self) -> dict[str, Any]:
        result = self.client.sync()
        assert result.outcome == "ok", result.engines
        assert all(not c.get("failed") for c in result.engines.values()), result.engines
        return result.engines

    def data(self) -> dict[str, Any]:
        """Everything but tabs (each device holds the others' tabs, not its own)."""
        return {
            "bookmarks": self.bookmarks.tree(),
            **{
                name: sorted(json.dumps(r.to_wire(), sort_keys=True) for r in engine.records())
                for name, engine in (
                    ("history", self.history),
                    ("passwords", self.passwords),
                    ("forms", self.forms),
                    ("addresses", self.addresses),
                    ("creditcards", self.creditcards),
                    ("prefs", self.prefs),
                )
            },
        }


def firefox(world: World, name: str) -> Firefox:
    ids = random.Random(f"ids-{name}").randbytes
    kw: dict[str, Any] = {"clock": world.clock, "rng": ids}
    engines: list[Engine] = [
        BookmarksEngine(**kw),
        HistoryEngine(**kw),
        PasswordsEngine(**kw),
        TabsEngine(**kw),
        FormsEngine(**kw),
        AddressesEngine(**kw),
        CreditCardsEngine(**kw),
        PrefsEngine(clock=world.clock),
    ]
    client = SyncClient(
        world.svc.token_server_url,
        world.account.access_token,
        world.kb,
        world.account.keys_changed_at,
        world.tmp / name,
        engines=engines,
        transport=world.svc.transport(),
        clock=world.clock,
        rng=random.Random(name).randbytes,
        client_name=f"device {name}",
    )
    return Firefox(client, *engines)  # type: ignore[arg-type]


def test_two_devices_converge_on_every_firefox_collection(tmp_path: Path) -> None:
    world = World(tmp_path)
    devices: list[Firefox] = []
    try:
        a, b = firefox(world, "a"), firefox(world, "b")
        devices += [a, b]
        # A: a bit of everything.
        work = a.bookmarks.create_folder("toolbar", "Work")
        mdn = a.bookmarks.create_bookmark(
            work.id, "https://developer.mozilla.org/", title="MDN", tags=["docs"], keyword="mdn"
        )
        a.bookmarks.create_separator(work.id)
        a.history.visit("https://www.mozilla.org/", title="Mozilla", at=world.clock.now - 60)
        a.passwords.add(
            "https://accounts.example.com",
            "ada",
            "correct horse",
            form_submit_url="https://accounts.example.com",
        )
        a.tabs.set_tabs([{"title": "Docs", "urlHistory": ["https://a.example/"], "lastUsed": 1}])
        a.forms.add("q", "sync tombstones")
        a.addresses.put({"entry": {"name": "Ada Lovelace", "country": "GB"}})
        a.creditcards.put(
            {
                "entry": {
                    "cc-name": "Ada",
                    "cc-number": "4111111111111111",
                    "cc-exp-month": 4,
                    "cc-exp-year": 2030,
                }
            }
        )
        a.prefs.set_pref("browser.newtabpage.enabled", False)
        first = a.sync()
        assert first["bookmarks"]["uploaded"] == 7  # four roots, folder, bookmark, separator
        world.clock.advance(30)

        # B: its own data, some of it overlapping A's.
        b.bookmarks.create_bookmark("menu", "https://b.example/", title="B")
        b.history.visit("https://www.mozilla.org/", title="Mozilla!", at=world.clock.now - 10)
        b.passwords.add("https://other.example", "bob", "hunter2", http_realm="Login")
        b.tabs.set_tabs([{"title": "Mail", "urlHistory": ["https://mail.example/"], "lastUsed": 2}])
        b.prefs.set_pref("layout.spellcheckDefault", 1)
        b.sync()
        world.clock.advance(30)

        # Both edit, concurrently, then sync until quiet.
        a.bookmarks.update(mdn.id, title="MDN Web Docs")
        b.bookmarks.move(mdn.id, "menu", index=0)
        world.clock.advance(5)
        for device in (a, b, a, b):
            device.sync()
            world.clock.advance(10)

        assert a.data() == b.data()
        menu = [c.id for c in b.bookmarks.children("menu")]
        moved = b.bookmarks.get(mdn.id)
        assert moved is not None
        assert moved.title == "MDN Web Docs"  # A's title edit...
        assert menu[0] == mdn.id  # ...and B's later move: the later edit of the item wins
        assert len(a.history.records()[0].visits) == 2
        assert {p.username for p in a.passwords.records()} == {"ada", "bob"}
        assert a.prefs.prefs() == {
            "browser.newtabpage.enabled": False,
            "layout.spellcheckDefault": 1,
        }
        assert [t.clientName for t in a.tabs.remote_tabs()] == ["device b"]
        assert [t.clientName for t in b.tabs.remote_tabs()] == ["device a"]
        assert a.bookmarks.problem_counts.total() == 0

        # A quiet sync costs one request.
        assert a.client.sync().requests == 1

        # A third device that only downloads holds the same: the server has it all.
        c = firefox(world, "c")
        devices.append(c)
        c.sync()
        assert c.data() == a.data()
        assert sorted(t.clientName for t in c.tabs.remote_tabs()) == ["device a", "device b"]

        # meta/global carries the engine versions Firefox writes.
        cached = a.client.store.meta_global()
        assert cached is not None
        meta = json.loads(cached.value)
        versions = {name: entry["version"] for name, entry in meta["engines"].items()}
        versions.pop("addons", None)  # written by a fresh start, not ours
        assert versions == {
            "clients": 1,
            "bookmarks": 2,
            "history": 1,
            "passwords": 1,
            "tabs": 1,
            "forms": 1,
            "addresses": 1,
            "creditcards": 1,
            "prefs": 2,
        }
    finally:
        for device in devices:
            device.client.close()
        world.close()
