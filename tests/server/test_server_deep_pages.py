"""A listing's page costs the same however deep it is, with ``newer`` and keyset offsets
together (what a downloading client sends), counted in SQLite's VM steps, not timed.

A collection uploaded in one batch shares one ``modified``: a query bounded by ``modified >
newer`` and filtered by the offset's ``(modified, id)`` key scanned every earlier row of that
timestamp, so the last page of 100,000 records cost 4.5x the first.
"""

from __future__ import annotations

from beacon.server import EmbeddedService
from tests.server.server_fixtures import Clock, User
from tests.server.test_server_batch_linear import counted, upload

PAGE = 100


def pages(user: User, collection: str, query: str) -> list[tuple[list[str], str | None]]:
    """Every page of a listing, following the server's offsets: (ids, the offset asked)."""
    out: list[tuple[list[str], str | None]] = []
    offset: str | None = None
    while True:
        suffix = "" if offset is None else f"&offset={offset}"
        response = user.get(f"/storage/{collection}?{query}&limit={PAGE}{suffix}")
        assert response.status_code == 200, response.text
        out.append(([r if isinstance(r, str) else r["id"] for r in response.json()], offset))
        offset = response.headers.get("X-Weave-Next-Offset")
        if offset is None:
            return out


def test_the_last_page_costs_what_the_first_does(svc: EmbeddedService, user: User) -> None:
    upload(svc, user, "bench", 2000)  # one batch: one modified for all 2,000
    query = "full=1&newer=0&sort=oldest"
    listed = pages(user, "bench", query)
    assert [i for ids, _ in listed for i in ids] == [f"r{n:05d}" for n in range(2000)]
    costs = []
    for _, offset in (listed[1], listed[-1]):  # the second page's and the last's offsets
        with counted(svc) as work:
            response = user.get(f"/storage/bench?{query}&limit={PAGE}&offset={offset}")
            assert response.status_code == 200
        costs.append(work.steps)
    assert costs[1] <= costs[0] * 1.2, costs  # was 8x: 277 VM step units against 2,257


def test_newer_and_an_offset_together_select_rows_after_both(
    svc: EmbeddedService, user: User, clock: Clock
) -> None:
    # Two batches at two times: a newer between them, and offsets inside either batch.
    upload(svc, user, "two", 300)
    first_batch = user.get("/info/collections").json()["two"]
    clock.advance(10)
    later = [{"id": f"s{i:03d}", "payload": "q"} for i in range(100)]
    assert user.post("/storage/two?batch=true&commit=true", json=later).status_code == 200
    oldest = [i for ids, _ in pages(user, "two", "sort=oldest") for i in ids]
    assert oldest == [f"r{n:05d}" for n in range(300)] + [f"s{n:03d}" for n in range(100)]
    for newer, expected in (("0", oldest), (f"{first_batch:.2f}", oldest[300:])):
        got = [i for ids, _ in pages(user, "two", f"newer={newer}&sort=oldest") for i in ids]
        assert got == expected, newer
    for older, expected in (
        ("99999999999", oldest[::-1]),
        (f"{first_batch + 1:.2f}", oldest[299::-1]),
    ):
        got = [i for ids, _ in pages(user, "two", f"older={older}&sort=newest") for i in ids]
        assert got == expected, older
