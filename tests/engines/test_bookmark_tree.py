"""The bookmark tree builder: dogear's scenarios, and generated inconsistent trees that hit
every problem class and always end as a valid five-root tree."""

from __future__ import annotations

import random
from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from beacon.client.engines._bookmark_tree import (
    PLACES,
    ROOTS,
    ProblemCounts,
    TreeItem,
    build_tree,
    tree_errors,
)

T = TreeItem


def _roots(**overrides: TreeItem) -> dict[str, TreeItem]:
    items = {root: T("folder", PLACES) for root in ROOTS}
    items.update(overrides)
    return items


def test_multiple_parents_go_to_the_youngest_children_claim() -> None:
    # dogear tests.rs multiple_parents: A is listed by toolbar (older) and menu (younger).
    items = _roots(
        toolbar=T("folder", PLACES, ("bookmarkAAAA", "bookmarkBBBB"), 5),
        menu=T("folder", PLACES, ("bookmarkGGGG", "bookmarkAAAA"), 10),
        bookmarkAAAA=T("bookmark", "toolbar"),
        bookmarkBBBB=T("bookmark", "toolbar"),
        bookmarkGGGG=T("bookmark", "menu"),
    )
    tree = build_tree(items)
    assert tree.children["menu"] == ["bookmarkGGGG", "bookmarkAAAA"]
    assert tree.children["toolbar"] == ["bookmarkBBBB"]
    assert (tree.counts.multiple_parents_by_children, tree.counts.parent_child_disagreements) == (
        1,
        1,
    )
    assert {"bookmarkAAAA", "toolbar"} <= tree.diverged
    assert tree_errors(tree, items) == []


def test_orphans_and_unlisted_children_are_appended() -> None:
    # dogear reparent_orphans: E appended to its parent (rule 3); F and H to unfiled (rule 4).
    items = _roots(
        toolbar=T("folder", PLACES, ("bookmarkBBBB", "bookmarkAAAA")),
        unfiled=T("folder", PLACES, ("bookmarkDDDD", "bookmarkCCCC")),
        **{
            k: T("bookmark", p)
            for k, p in [("bookmarkAAAA", "toolbar"), ("bookmarkBBBB", "toolbar")]
        },
        **{k: T("bookmark", "unfiled") for k in ("bookmarkCCCC", "bookmarkDDDD")},
        bookmarkEEEE=T("bookmark", "toolbar"),
        bookmarkFFFF=T("bookmark", "folderXXXXXX"),
        bookmarkHHHH=T("bookmark", None),
    )
    tree = build_tree(items)
    assert tree.children["toolbar"] == ["bookmarkBBBB", "bookmarkAAAA", "bookmarkEEEE"]
    assert tree.children["unfiled"] == [
        "bookmarkDDDD",
        "bookmarkCCCC",
        "bookmarkFFFF",
        "bookmarkHHHH",
    ]
    counts = tree.counts
    assert (counts.orphans, counts.missing_parent_guids, counts.parent_child_disagreements) == (
        1,
        1,
        2,
    )
    assert {"bookmarkEEEE", "bookmarkFFFF", "bookmarkHHHH", "toolbar", "unfiled"} <= tree.diverged


def test_missing_and_deleted_children_are_dropped() -> None:
    # The scenario of dogear's divergences document, verbatim; then B as a tombstone.
    # https://github.com/mozilla/dogear/blob/main/docs/divergences.md
    items = _roots(
        menu=T("folder", PLACES, ("bookmarkAAAA",), 5),
        toolbar=T("folder", PLACES, ("bookmarkBBBB", "bookmarkAAAA"), 10),
        unfiled=T("folder", PLACES, ("bookmarkEEEE",), 5),
        bookmarkAAAA=T("bookmark", "folderCCCCCC", (), 5),
        bookmarkDDDD=T("bookmark", "menu", (), 5),
        bookmarkEEEE=T("bookmark", "unfiled", (), 10),
    )
    tree = build_tree(items)
    assert (tree.children["menu"], tree.children["toolbar"], tree.children["unfiled"]) == (
        ["bookmarkDDDD"],
        ["bookmarkAAAA"],
        ["bookmarkEEEE"],
    )
    assert tree.counts.missing_children == 1
    assert "bookmarkEEEE" not in tree.diverged
    deleted = build_tree(items, ["bookmarkBBBB"])
    assert (deleted.counts.missing_children, deleted.counts.deleted_children) == (0, 1)


def test_misparented_roots_go_back_under_places() -> None:
    items = _roots(
        menu=T("folder", PLACES, ("bookmarkHHHH", "unfiled")),
        unfiled=T("folder", "menu", ("bookmarkIIII",)),
        mobile=T("folder", PLACES, ("toolbar",)),
        toolbar=T("folder", "mobile", ("bookmarkGGGG",)),
        bookmarkHHHH=T("bookmark", "menu"),
        bookmarkIIII=T("bookmark", "unfiled"),
        bookmarkGGGG=T("bookmark", "toolbar"),
    )
    tree = build_tree(items)
    assert [tree.parent[r] for r in ROOTS] == [PLACES] * 4
    assert (tree.children["menu"], tree.children["mobile"]) == (["bookmarkHHHH"], [])
    assert tree.counts.misparented_roots == 2
    assert {"unfiled", "toolbar", "menu", "mobile"} <= tree.diverged


def test_invalid_items_are_left_out_and_missing_roots_created() -> None:
    items = {
        "unfiled": T("folder", PLACES, ("bookmarkJJJJ", "bookmarkKKKK")),
        "bookmarkJJJJ": T("bookmark", "unfiled", invalid=True),
        "bookmarkKKKK": T("bookmark", "unfiled"),
    }
    tree = build_tree(items)
    assert tree.children["unfiled"] == ["bookmarkKKKK"]
    assert tree.left_out == {"bookmarkJJJJ"}
    assert tree.counts.invalid_items == 1
    assert sorted(tree.created_roots) == ["menu", "mobile", "toolbar"]
    assert tree_errors(tree, ["unfiled", "bookmarkKKKK"]) == []


def test_a_cycle_is_cut_into_unfiled() -> None:
    items = _roots(
        folderAAAAAA=T("folder", "folderBBBBBB", ("folderBBBBBB",)),
        folderBBBBBB=T("folder", "folderAAAAAA", ("folderAAAAAA",)),
    )
    tree = build_tree(items)
    assert tree.counts.cycles == 1
    assert tree.parent["folderAAAAAA"] == "unfiled"
    assert tree.parent["folderBBBBBB"] == "folderAAAAAA"
    assert tree_errors(tree, items) == []


def test_a_cycle_cut_into_a_folder_that_lists_it_lists_it_once() -> None:
    # Found by a larger campaign: unfiled (older) and a folder of the cycle (younger) claim A.
    items = _roots(
        unfiled=T("folder", PLACES, ("folderAAAAAA",), 1),
        folderAAAAAA=T("folder", "folderBBBBBB", ("folderBBBBBB",), 2),
        folderBBBBBB=T("folder", "folderAAAAAA", ("folderAAAAAA",), 5),
    )
    tree = build_tree(items)
    assert tree.children["unfiled"] == ["folderAAAAAA"]
    assert tree_errors(tree, items) == []


def test_a_zombie_is_live_and_diverged() -> None:
    items = _roots(
        unfiled=T("folder", PLACES, ("bookmarkZZZZ",)), bookmarkZZZZ=T("bookmark", "unfiled")
    )
    tree = build_tree(items, ["bookmarkZZZZ"])
    assert tree.parent["bookmarkZZZZ"] == "unfiled"
    assert "bookmarkZZZZ" in tree.diverged


# -- generated trees ---------------------------------------------------------------------------


def inconsistent_tree(rnd: random.Random) -> tuple[dict[str, TreeItem], set[str]]:
    """A random, usually inconsistent, set of bookmark records and tombstones."""
    count = rnd.randint(0, 14)
    items = [f"item{i:08d}" for i in range(count)]
    kinds = {i: rnd.choice(["folder", "folder", "bookmark", "separator"]) for i in items}
    deleted = {f"gone{i:08d}" for i in range(rnd.randint(0, 3))}
    missing = [f"miss{i:08d}" for i in range(2)]
    everything = [*items, *ROOTS]
    folders = [i for i in everything if i in ROOTS or kinds[i] == "folder"]

    def parent() -> str | None:
        pool: list[str | None] = [None, PLACES, *everything, *missing, *deleted]
        return rnd.choice(pool) if rnd.random() < 0.4 else rnd.choice(folders)

    out: dict[str, TreeItem] = {}
    present_roots = [r for r in ROOTS if rnd.random() < 0.85]
    for item_id in [*items, *present_roots]:
        kind = "folder" if item_id in ROOTS else kinds[item_id]
        up = (PLACES if rnd.random() < 0.8 else parent()) if item_id in ROOTS else parent()
        kids: tuple[str, ...] = ()
        if kind == "folder":
            pool = [*items, *ROOTS, *missing, *deleted]
            kids = tuple(rnd.sample(pool, rnd.randint(0, min(5, len(pool)))))
            if kids and rnd.random() < 0.1:
                kids = (*kids, kids[0])  # a duplicate entry
        out[item_id] = T(kind, up, kids, float(rnd.randint(0, 20)), invalid=rnd.random() < 0.05)
    if items and rnd.random() < 0.1:
        deleted.add(rnd.choice(items))  # a zombie
    return out, deleted


def _check_valid(items: dict[str, TreeItem], deleted: set[str]) -> ProblemCounts:
    tree = build_tree(items, deleted)
    kept = [i for i, item in items.items() if not item.invalid]
    assert tree_errors(tree, kept) == []
    # Each folder's order keeps the relative order of its own valid children claims.
    for folder, kids in tree.children.items():
        own = items.get(folder)
        listed = [c for c in own.children if c in kids] if own and not own.invalid else kids
        assert kids[: len(dict.fromkeys(listed))] == list(dict.fromkeys(listed))
    # Building again from what the repaired tree says finds nothing left to repair.
    again = {
        i: T(
            items[i].kind if i in items else "folder",
            tree.parent[i],
            tuple(tree.children.get(i, ())),
        )
        for i in tree.parent
    }
    assert build_tree(again).counts.total() == 0
    return tree.counts


@given(st.randoms(use_true_random=False))
def test_generated_inconsistent_trees_end_as_valid_five_root_trees(rnd: random.Random) -> None:
    _check_valid(*inconsistent_tree(rnd))


def test_generated_trees_hit_every_problem_class() -> None:
    seen: set[str] = set()
    for seed in range(300):
        counts = _check_valid(*inconsistent_tree(random.Random(seed)))
        seen.update(name for name, value in counts.to_json().items() if value)
    assert seen == {f.name for f in fields(ProblemCounts)}
