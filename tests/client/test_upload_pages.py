"""Uploads go a page at a time: read, encrypt, send, commit and mark one page, then the next.

What is checked is the shape that keeps memory flat (pages of the configured size, each
committed and marked before the next is read) and what a failure in the middle keeps.
"""

from __future__ import annotations

import httpx
import pytest

from beacon import BackoffError
from beacon.client import _collection_service
from tests.client.sync_world import World, tail

PAGE = 10


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_collection_service, "UPLOAD_PAGE", PAGE)


def _notes_posts(world: World) -> list[str]:
    return [
        r.path for r in world.writes() if r.method == "POST" and tail(r.path) == "storage/notes"
    ]


def test_an_upload_of_many_changes_goes_page_by_page_and_lands_whole(world: World) -> None:
    a = world.device("a")
    a.notes.put_many((f"n{i:03d}", {"i": i}) for i in range(25))
    result = a.client.sync()
    assert result.engines["notes"]["uploaded"] == 25
    assert len(_notes_posts(world)) == 3  # pages of 10, 10 and 5: one committed batch each
    assert sorted(world.svc.faults.records(world.fxa_uid, "notes")) == [
        f"n{i:03d}" for i in range(25)
    ]
    assert a.client.sync().requests == 1  # every page was marked uploaded: nothing left

    b = world.device("b")
    assert b.client.sync().engines["notes"]["applied"] == 25


def test_a_page_reads_only_its_own_rows(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    a.notes.put_many((f"n{i:03d}", {"i": i}) for i in range(25))
    pages = [[r.id for r in page] for page in a.notes.outgoing_pages(PAGE)]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [i for p in pages for i in p] == [f"n{i:03d}" for i in range(25)]


def test_a_failure_after_the_first_page_keeps_it_uploaded_and_the_rest_outgoing(
    world: World,
) -> None:
    a = world.device("a")
    a.client.sync()
    a.notes.put_many((f"n{i:03d}", {"i": i}) for i in range(25))
    posts = {"n": 0}

    def fail_second_post(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and tail(request.url.path) == "storage/notes":
            posts["n"] += 1
            if posts["n"] == 2:
                return httpx.Response(503, headers={"Retry-After": "1"}, request=request)
        return None

    a.wire.before.append(fail_second_post)
    with pytest.raises(BackoffError):
        a.client.sync()
    held = world.svc.faults.records(world.fxa_uid, "notes")
    assert sorted(held) == [f"n{i:03d}" for i in range(10)]  # the first page is committed
    a.wire.before.clear()
    world.clock.advance(3600)
    again = a.client.sync()
    assert again.engines["notes"]["uploaded"] == 15  # the first page is not sent again
    assert len(world.svc.faults.records(world.fxa_uid, "notes")) == 25


def test_an_edit_made_while_its_page_was_in_flight_stays_outgoing(world: World) -> None:
    a = world.device("a")
    a.client.sync()
    a.notes.put_many((f"n{i:03d}", {"i": i}) for i in range(25))

    def edit_during_upload(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and tail(request.url.path) == "storage/notes":
            a.notes.put("n003", {"i": "edited while uploading"})
            a.wire.before.clear()
        return None

    a.wire.before.append(edit_during_upload)
    a.client.sync()
    assert [r.id for r in a.notes.outgoing()] == ["n003"]  # changed after its page was read
    assert a.client.sync().engines["notes"]["uploaded"] == 1
