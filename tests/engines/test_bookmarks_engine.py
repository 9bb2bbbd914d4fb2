"""The bookmarks engine: the local tree API, the mirror, repairs of inconsistent server trees
re-uploaded, deletions against new children, the edit-time rule."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beacon._errors import UsageError
from beacon.client._store import Store
from beacon.client.engines import BookmarksEngine
from beacon.client.engines._bookmark_tree import PLACES, ROOTS, TreeItem, build_tree
from tests.engines.conftest import Clock, incoming, tombstone
from tests.engines.test_bookmark_tree import inconsistent_tree


@pytest.fixture
def engine(store: Store, clock: Clock) -> BookmarksEngine:
    return BookmarksEngine(store=store, clock=clock, rng=random.Random(3).randbytes)


def folder(fid: str, children: list[str], parent: str = PLACES, **extra: Any) -> dict[str, Any]:
    return {
        "id": fid,
        "type": "folder",
        "parentid": parent,
        "title": fid,
        "children": children,
        **extra,
    }


def bookmark(bid: str, parent: str | None, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": bid,
        "type": "bookmark",
        "bmkUri": f"https://{bid}.example/",
        **extra,
    }
    if parent is not None:
        record["parentid"] = parent
    return record


def upload_all(engine: BookmarksEngine, at: float) -> dict[str, dict[str, Any]]:
    out = {
        r.id: {k: v for k, v in r.cleartext.items() if k != "_edited"} for r in engine.outgoing()
    }
    engine.mark_uploaded(out, at)
    return out


def children(engine: BookmarksEngine, fid: str) -> list[str]:
    return [c.id for c in engine.children(fid)]


def local_problems(engine: BookmarksEngine) -> int:
    items = {
        i.id: TreeItem(i.type, i.parentid, tuple(i.children or ()), 0.0) for i in engine.items()
    }
    return build_tree(items).counts.total()


def test_a_fresh_device_uploads_its_four_roots_never_places(engine: BookmarksEngine) -> None:
    out = {r.id: r for r in engine.outgoing()}
    assert sorted(out) == sorted(ROOTS)
    assert all(r.cleartext["parentid"] == PLACES for r in out.values())
    assert all(r.sortindex == 1_000_000 for r in out.values())


def test_the_local_api_keeps_a_valid_tree(engine: BookmarksEngine) -> None:
    work = engine.create_folder("toolbar", "Work")
    mdn = engine.create_bookmark(
        work.id,
        "https://developer.mozilla.org/",
        title="MDN",
        tags=["docs", " web "],
        keyword=" MDN ",
    )
    sep = engine.create_separator(work.id, index=0)
    query = engine.create_query("menu", "place:tag=docs", title="docs")
    assert children(engine, work.id) == [sep.id, mdn.id]
    assert (mdn.tags, mdn.keyword) == (["docs", "web"], "mdn")
    assert [b.id for b in engine.by_tag("docs")] == [mdn.id]
    assert [b.id for b in engine.by_keyword("MDN")] == [mdn.id]
    upload_all(engine, 10.0)
    engine.update(work.id, title="Job")
    assert engine.get(mdn.id).parentName == "Job"  # type: ignore[union-attr]
    engine.move(mdn.id, "menu", index=0)
    assert children(engine, "menu") == [mdn.id, query.id]
    with pytest.raises(UsageError):
        engine.move(work.id, work.id)
    with pytest.raises(UsageError):
        engine.delete("toolbar")
    with pytest.raises(UsageError):
        engine.create_bookmark("menu", "not a url")
    assert engine.delete(work.id)
    assert engine.get(sep.id) is None
    assert children(engine, "toolbar") == []
    assert local_problems(engine) == 0
    out = {r.id: r.cleartext for r in engine.outgoing()}
    assert out[sep.id]["deleted"] is True
    assert out["menu"]["children"] == [mdn.id, query.id]
    assert out[mdn.id]["parentid"] == "menu"


def test_multiple_parents_are_repaired_and_re_uploaded(engine: BookmarksEngine) -> None:
    counts = engine.apply_incoming(
        [
            incoming(folder("toolbar", ["bookmarkAAAA", "bookmarkBBBB"]), 5.0),
            incoming(folder("menu", ["bookmarkGGGG", "bookmarkAAAA"]), 10.0),
            incoming(folder("unfiled", []), 5.0),
            incoming(folder("mobile", []), 5.0),
            incoming(bookmark("bookmarkAAAA", "toolbar"), 5.0),
            incoming(bookmark("bookmarkBBBB", "toolbar"), 5.0),
            incoming(bookmark("bookmarkGGGG", "menu"), 5.0),
        ]
    )
    assert counts.applied == 7
    sent = upload_all(engine, 20.0)
    assert engine.problem_counts.multiple_parents_by_children == 1
    assert engine.problem_counts.parent_child_disagreements == 1
    assert sorted(sent) == ["bookmarkAAAA", "toolbar"]
    assert sent["bookmarkAAAA"]["parentid"] == "menu"
    assert sent["toolbar"]["children"] == ["bookmarkBBBB"]
    assert children(engine, "menu") == ["bookmarkGGGG", "bookmarkAAAA"]
    # The mirror now holds the repaired tree: nothing more to repair or send.
    engine.apply_incoming([incoming(folder("menu", ["bookmarkGGGG", "bookmarkAAAA"]), 30.0)])
    assert engine.outgoing() == []
    assert engine.check_server_tree().total() == 0


def test_orphans_go_to_unfiled_and_their_repairs_go_up(engine: BookmarksEngine) -> None:
    engine.apply_incoming(
        [incoming(folder(r, []), 5.0) for r in ("menu", "toolbar", "mobile")]
        + [
            incoming(folder("unfiled", ["bookmarkDDDD"]), 5.0),
            incoming(bookmark("bookmarkDDDD", "unfiled"), 5.0),
            incoming(bookmark("bookmarkFFFF", "folderXXXXXX"), 5.0),
            incoming(bookmark("bookmarkHHHH", None), 5.0),
        ]
    )
    sent = upload_all(engine, 20.0)
    assert children(engine, "unfiled") == ["bookmarkDDDD", "bookmarkFFFF", "bookmarkHHHH"]
    assert (engine.problem_counts.orphans, engine.problem_counts.missing_parent_guids) == (1, 1)
    assert {"bookmarkFFFF", "bookmarkHHHH", "unfiled"} <= set(sent)
    assert sent["bookmarkHHHH"]["parentid"] == "unfiled"


def test_invalid_items_are_deleted_fixed_ones_re_uploaded_livemarks_kept(
    engine: BookmarksEngine,
) -> None:
    engine.apply_incoming(
        [incoming(folder(r, []), 5.0) for r in ("menu", "toolbar", "mobile")]
        + [
            incoming(folder("unfiled", ["bookmarkJJJJ", "bookmarkKKKK", "livemarkLLLL"]), 5.0),
            incoming(bookmark("bookmarkJJJJ", "unfiled", bmkUri="not a url"), 5.0),
            incoming(bookmark("bookmarkKKKK", "unfiled", tags=[" cats", "cats", 7]), 5.0),
            incoming(
                {
                    "id": "livemarkLLLL",
                    "type": "livemark",
                    "parentid": "unfiled",
                    "feedUri": "https://l.example/feed",
                },
                5.0,
            ),
            incoming(
                {
                    "id": "queryQQQQQQQ",
                    "type": "query",
                    "parentid": "folderGONEEE",
                    "bmkUri": "place:sort=8",
                },
                5.0,
            ),
            incoming({"id": "microsummary", "type": "microsummary"}, 5.0),
        ]
    )
    sent = upload_all(engine, 20.0)
    assert sent["bookmarkJJJJ"] == {"id": "bookmarkJJJJ", "deleted": True}
    assert sent["bookmarkKKKK"]["tags"] == ["cats"]
    assert children(engine, "unfiled") == ["bookmarkKKKK", "livemarkLLLL", "queryQQQQQQQ"]
    assert engine.problem_counts.invalid_items == 1
    kinds = {(p.id, p.kind) for p in engine.problems}
    assert {
        ("bookmarkKKKK", "repaired"),
        ("microsummary", "refused"),
        ("bookmarkJJJJ", "deleted"),
    } <= kinds


def test_a_deleted_folder_keeps_its_new_children_in_the_closest_ancestor(
    engine: BookmarksEngine, clock: Clock
) -> None:
    # dogear complex_orphaning, from the device that added F into B while B was deleted.
    engine.apply_incoming(
        [incoming(folder(r, []), 5.0) for r in ("menu", "unfiled", "mobile")]
        + [
            incoming(folder("toolbar", ["folderAAAAAA"]), 5.0),
            incoming(folder("folderAAAAAA", ["folderBBBBBB"], parent="toolbar"), 5.0),
            incoming(folder("folderBBBBBB", [], parent="folderAAAAAA"), 5.0),
        ]
    )
    upload_all(engine, 6.0)
    clock.tick(10)
    new = engine.create_bookmark("folderBBBBBB", "https://f.example/", title="F")
    engine.apply_incoming(
        [
            tombstone("folderBBBBBB", 30.0),
            incoming(folder("folderAAAAAA", [], parent="toolbar"), 30.0),
        ]
    )
    sent = upload_all(engine, 40.0)
    assert engine.get("folderBBBBBB") is None
    assert children(engine, "folderAAAAAA") == [new.id]
    assert sent[new.id]["parentid"] == "folderAAAAAA"
    assert sent["folderAAAAAA"]["children"] == [new.id]
    assert local_problems(engine) == 0


def test_a_changed_bookmark_beats_a_remote_deletion(engine: BookmarksEngine, clock: Clock) -> None:
    engine.apply_incoming(
        [incoming(folder(r, []), 5.0) for r in ("menu", "toolbar", "mobile")]
        + [
            incoming(folder("unfiled", ["bookmarkAAAA"]), 5.0),
            incoming(bookmark("bookmarkAAAA", "unfiled"), 5.0),
        ]
    )
    upload_all(engine, 6.0)
    clock.tick(100)
    engine.update("bookmarkAAAA", title="mine")
    engine.apply_incoming([tombstone("bookmarkAAAA", 7.0), incoming(folder("unfiled", []), 7.0)])
    sent = upload_all(engine, 8.0)
    assert engine.get("bookmarkAAAA").title == "mine"  # type: ignore[union-attr]
    assert sent["unfiled"]["children"] == ["bookmarkAAAA"]


def test_the_later_edit_wins_a_conflict(engine: BookmarksEngine, clock: Clock) -> None:
    engine.apply_incoming(
        [incoming(folder(r, []), 5.0) for r in ("menu", "toolbar", "mobile")]
        + [
            incoming(folder("unfiled", ["bookmarkAAAA"]), 5.0),
            incoming(bookmark("bookmarkAAAA", "unfiled", title="server"), 5.0),
        ]
    )
    upload_all(engine, 6.0)
    edited = clock.tick(100)
    engine.update("bookmarkAAAA", title="mine")
    older = bookmark("bookmarkAAAA", "unfiled", title="older", _edited=edited - 50)
    engine.apply_incoming([incoming(older, 7.0)])
    assert upload_all(engine, 8.0)["bookmarkAAAA"]["title"] == "mine"
    newer = bookmark("bookmarkAAAA", "unfiled", title="newer", _edited=edited + 50)
    engine.update("bookmarkAAAA", title="mine again")
    engine.apply_incoming([incoming(newer, 9.0)])
    assert "bookmarkAAAA" not in upload_all(engine, 10.0)
    assert engine.get("bookmarkAAAA").title == "newer"  # type: ignore[union-attr]


def test_the_earliest_date_added_wins(engine: BookmarksEngine) -> None:
    local = engine.create_bookmark("menu", "https://a.example/", dateAdded=1_000)
    record = {**bookmark(local.id, "menu"), "dateAdded": 5_000}
    engine.apply_incoming([incoming(folder("menu", [local.id]), 5.0), incoming(record, 5.0)])
    assert upload_all(engine, 6.0)[local.id]["dateAdded"] == 1_000


def test_forbidden_and_replayed_records_are_ignored(engine: BookmarksEngine) -> None:
    assert engine.apply_incoming([incoming(folder("places", []), 5.0)]).reconciled == 1
    engine.apply_incoming([incoming(bookmark("bookmarkAAAA", "unfiled", title="new"), 9.0)])
    engine.apply_incoming([incoming(bookmark("bookmarkAAAA", "unfiled", title="old"), 5.0)])
    engine.merge()
    assert engine.get("bookmarkAAAA").title == "new"  # type: ignore[union-attr]


def _cleartexts(items: dict[str, TreeItem], deleted: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item_id, item in items.items():
        record: dict[str, Any] = {"id": item_id, "type": item.kind, "_edited": 1 + item.edited}
        if item.parentid is not None:
            record["parentid"] = item.parentid
        if item.kind == "folder":
            record["children"] = list(item.children)
        if item.kind == "bookmark":
            record["bmkUri"] = "not a url" if item.invalid else f"https://{item_id}.example/"
        out.append(record)
    return out + [{"id": d, "deleted": True} for d in deleted if d not in items]


@given(rnd=st.randoms(use_true_random=False))
def test_any_server_tree_is_repaired_and_the_repairs_uploaded(
    rnd: random.Random, shared_store: Store
) -> None:
    items, deleted = inconsistent_tree(rnd)
    engine = BookmarksEngine(store=shared_store, clock=Clock(), rng=random.Random(1).randbytes)
    engine.wipe_local()
    # Every problem class, each with a record in the server's tree, is staged; one merge
    # repairs them and the upload carries the repairs.
    engine.apply_incoming([incoming(c, 5.0) for c in _cleartexts(items, deleted)])
    upload_all(engine, 6.0)
    assert local_problems(engine) == 0
    # The server now holds a consistent tree: nothing to repair, nothing to send.
    assert engine.check_server_tree().total() == 0
    assert engine.outgoing() == []


def test_never_synced_duplicates_take_the_remote_ids(engine: BookmarksEngine) -> None:
    # A new device that starts with the account's bookmarks does not double them.
    work = engine.create_folder("toolbar", "Work")
    mdn = engine.create_bookmark(work.id, "https://developer.mozilla.org/", title="MDN")
    engine.create_separator(work.id)
    own = engine.create_bookmark(work.id, "https://mine.example/", title="only here")
    engine.apply_incoming(
        [incoming(folder(r, []), 5.0) for r in ("menu", "unfiled", "mobile")]
        + [
            incoming(folder("toolbar", ["folderWORK01"]), 5.0),
            incoming(
                folder(
                    "folderWORK01", ["bookmarkMDN1", "separator001"], parent="toolbar", title="Work"
                ),
                5.0,
            ),
            incoming(
                bookmark(
                    "bookmarkMDN1",
                    "folderWORK01",
                    title="MDN",
                    bmkUri="https://developer.mozilla.org/",
                ),
                5.0,
            ),
            incoming(
                {"id": "separator001", "type": "separator", "parentid": "folderWORK01", "pos": 1},
                5.0,
            ),
        ]
    )
    sent = upload_all(engine, 6.0)
    assert children(engine, "toolbar") == ["folderWORK01"]
    assert children(engine, "folderWORK01") == ["bookmarkMDN1", "separator001", own.id]
    assert engine.get(work.id) is None
    assert engine.get(mdn.id) is None
    assert work.id not in sent  # never on the server: no tombstone for the old ids
    assert sent[own.id]["parentid"] == "folderWORK01"
    assert local_problems(engine) == 0
