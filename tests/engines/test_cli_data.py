"""``beacon bookmarks|passwords|…`` over real loopback HTTP: edits uploaded by one sync run,
reads served from the local store, bookmarks.html parsed back, Firefox's password CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from beacon.cli import main
from beacon.server import EmbeddedService

KB = bytes(range(32)).hex()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[EmbeddedService, str]]:
    with EmbeddedService() as svc, svc.serve() as base_url:
        yield svc, base_url


@pytest.fixture(autouse=True)
def kb_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline commands read sealed records: kB comes from the environment, as a user sets it."""
    monkeypatch.setenv("BEACON_KB", KB)


@pytest.fixture
def account(served: tuple[EmbeddedService, str]) -> list[str]:
    """The sync options of a fresh account."""
    svc, base_url = served
    acct = svc.create_account()
    return [
        "--token-server",
        base_url,
        "--access-token",
        acct.access_token,
        "--kb",
        KB,
        "--keys-changed-at",
        str(acct.keys_changed_at),
    ]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def as_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    # options go before a "--": what follows it is the record id
    cut = argv.index("--") if "--" in argv else len(argv)
    return json.loads(run(capsys, *argv[:cut], "--format", "json", *argv[cut:]))


class Netscape(HTMLParser):
    """A small reader of bookmarks.html: folders (H3) with their items, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, Any] = {"title": "menu", "items": []}
        self.stack = [self.root]
        self.pending: dict[str, Any] | None = None
        self.text: list[str] = []
        self.tag: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("h3", "a"):
            self.tag, self.text = tag, []
            self.pending = {"kind": tag, **dict(attrs)}
        elif tag == "dl" and self.stack[-1].get("open"):
            self.stack[-1]["open"] = False
        elif tag == "hr":
            self.stack[-1]["items"].append({"kind": "hr"})

    def handle_endtag(self, tag: str) -> None:
        if tag in ("h3", "a") and self.pending is not None:
            self.pending["title"] = "".join(self.text)
            if tag == "h3":
                self.pending.update(items=[], open=True)
                self.stack[-1]["items"].append(self.pending)
                self.stack.append(self.pending)
            else:
                self.stack[-1]["items"].append(self.pending)
            self.pending, self.tag = None, None
        elif tag == "dl" and len(self.stack) > 1:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.tag is not None:
            self.text.append(data)


def test_bookmarks_are_created_synced_listed_and_exported(
    capsys: pytest.CaptureFixture[str], account: list[str], tmp_path: Path
) -> None:
    laptop, phone = str(tmp_path / "laptop"), str(tmp_path / "phone")
    (work,) = as_json(
        capsys,
        "bookmarks",
        "create",
        "--state",
        laptop,
        *account,
        "--type",
        "folder",
        "--parent",
        "toolbar",
        "--title",
        "Work",
    )
    (mdn,) = as_json(
        capsys,
        "bookmarks",
        "create",
        "--state",
        laptop,
        *account,
        f"--parent={work['id']}",  # a GUID may start with "-": the = form keeps it a value
        "--url",
        'https://developer.mozilla.org/?a=1&b="2"',
        "--title",
        "MDN <docs> & more",
        "--tags",
        "docs,web",
        "--keyword",
        "mdn",
    )
    as_json(
        capsys,
        "bookmarks",
        "create",
        "--state",
        laptop,
        *account,
        "--type",
        "separator",
        f"--parent={work['id']}",  # a GUID may start with "-": the = form keeps it a value
    )
    as_json(
        capsys,
        "bookmarks",
        "create",
        "--state",
        laptop,
        *account,
        "--parent",
        "menu",
        "--url",
        "https://menu.example/",
        "--title",
        "On the menu",
    )

    # The phone syncs once and serves the same tree from its store.
    listed = as_json(capsys, "bookmarks", "list", "--state", phone, *account)
    assert {b["id"] for b in listed} >= {work["id"], mdn["id"]}
    page = run(capsys, "bookmarks", "list", "--state", phone, "--format", "netscape")
    assert page.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>\n")
    reader = Netscape()
    reader.feed(page)
    menu = reader.root["items"]
    assert [i["title"] for i in menu] == ["On the menu", "Bookmarks Toolbar"]
    toolbar = menu[1]
    assert toolbar["personal_toolbar_folder"] == "true"
    (folder,) = toolbar["items"]
    assert folder["title"] == "Work"
    link, separator = folder["items"]
    assert link["href"] == "https://developer.mozilla.org/?a=1&b=%222%22"
    assert (link["title"], link["tags"], link["shortcuturl"]) == (
        "MDN <docs> & more",
        "docs,web",
        "mdn",
    )
    assert separator == {"kind": "hr"}
    assert int(link["add_date"]) > 1_600_000_000  # seconds, not ms

    table = run(capsys, "bookmarks", "list", "--state", phone)
    assert "MDN <docs> & more" in table
    rows = list(
        csv.reader(
            io.StringIO(run(capsys, "bookmarks", "list", "--state", phone, "--format", "csv"))
        )
    )
    assert rows[0] == [
        "ID",
        "ParentID",
        "Type",
        "Title",
        "URI",
        "Keyword",
        "DateAdded",
        "Description",
        "Tags",
    ]
    assert [r[-1] for r in rows if r[0] == mdn["id"]] == ["docs;web"]

    # Deleting on the phone reaches the laptop.
    run(capsys, "bookmarks", "delete", "--state", phone, *account, "--", work["id"])
    after = as_json(capsys, "bookmarks", "list", "--state", laptop, *account)
    assert work["id"] not in {b["id"] for b in after}
    assert mdn["id"] not in {b["id"] for b in after}


def test_passwords_export_as_firefox_csv_masked_unless_asked(
    capsys: pytest.CaptureFixture[str],
    account: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = str(tmp_path / "d")
    monkeypatch.setattr("sys.stdin", io.StringIO('pa"ss\n'))
    (login,) = as_json(
        capsys,
        "passwords",
        "create",
        "--state",
        state,
        *account,
        "--password-stdin",
        "--hostname",
        "https://accounts.example.com/login",
        "--username",
        "ada",
        "--form-submit-url",
        "https://accounts.example.com",
    )
    assert login["password"] == "********"
    masked = run(capsys, "passwords", "list", "--state", state, "--format", "csv")
    lines = masked.split("\r\n")
    assert lines[0] == (
        '"url","username","password","httpRealm","formActionOrigin","guid",'
        '"timeCreated","timeLastUsed","timePasswordChanged"'
    )
    assert lines[1].startswith('"https://accounts.example.com","ada","********",,')
    shown = run(
        capsys, "passwords", "list", "--state", state, "--format", "csv", "--show-passwords"
    )
    assert '"pa""ss"' in shown
    assert 'pa"ss' not in run(capsys, "passwords", "list", "--state", state)


def test_the_other_collections_have_the_same_verbs(
    capsys: pytest.CaptureFixture[str], account: list[str], tmp_path: Path
) -> None:
    state = str(tmp_path / "d")
    (place,) = as_json(
        capsys,
        "history",
        "create",
        "--state",
        state,
        *account,
        "--url",
        "https://www.mozilla.org/",
        "--title",
        "Mozilla",
    )
    tsv = run(capsys, "history", "list", "--state", state, "--format", "tsv").splitlines()
    assert tsv[1].split("\t")[:4] == [place["id"], "https://www.mozilla.org/", "Mozilla", "1"]
    (form,) = as_json(capsys, "forms", "create", "--state", state, "--name", "q", "--value", "x")
    (card,) = as_json(
        capsys,
        "creditcards",
        "create",
        "--state",
        state,
        *account,
        "--field",
        "cc-name=Ada",
        "--field",
        "cc-number=4111111111111111",
        "--field",
        "cc-exp-month=4",
        "--field",
        "cc-exp-year=2030",
    )
    assert card["entry"]["cc-number"] == "********1111"
    (address,) = as_json(
        capsys,
        "addresses",
        "create",
        "--state",
        state,
        "--field",
        "name=Ada Lovelace",
        "--field",
        "country=GB",
    )
    (changed,) = as_json(
        capsys, "addresses", "update", "--state", state, "--field", "tel=+44", "--", address["id"]
    )
    assert (changed["entry"]["tel"], changed["entry"]["name"]) == ("+44", "Ada Lovelace")
    (tabs,) = as_json(
        capsys, "tabs", "create", "--state", state, "--url", "https://t.example/", "--title", "T"
    )
    assert tabs["tabs"][0]["urlHistory"] == ["https://t.example/"]
    # Record ids are random base64url and may start with "-": after "--" they are never options.
    run(capsys, "forms", "delete", "--state", state, "--", form["id"])
    assert as_json(capsys, "forms", "list", "--state", state, *account) == []
    assert main(["forms", "get", "--state", state, "--", form["id"]]) == 2  # usage
    assert "no forms record" in capsys.readouterr().err
    # an id that starts with "-" is read as one after "--", and only there
    assert main(["forms", "get", "--state", state, "--", "-AbCdEfGhIjK"]) == 2
    assert "no forms record" in capsys.readouterr().err


def test_beacon_sync_uses_the_typed_engines_for_firefox_collections(
    capsys: pytest.CaptureFixture[str], account: list[str], tmp_path: Path
) -> None:
    state = str(tmp_path / "d")
    report = json.loads(
        run(capsys, "sync", *account, "--state", state, "--engines", "bookmarks,notes", "--json")
    )
    assert report["engines"]["bookmarks"]["uploaded"] == 4  # the four roots: a typed tree
    listed = as_json(capsys, "bookmarks", "list", "--state", state)
    assert [b["id"] for b in listed] == ["menu", "toolbar", "unfiled", "mobile"]
