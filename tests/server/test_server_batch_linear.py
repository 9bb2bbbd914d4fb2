"""Building and committing a batch costs the same per record at any batch size.

Nothing here is timed: the work is counted in SQLite itself, as statements run (the trace
callback) and virtual-machine steps (the progress handler: a scan of the batch so far costs
steps per row it reads, which is how building a batch once grew quadratic: every append
recounted the items already in). Speed goes to ``bench/server.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from beacon.server import EmbeddedService
from tests.server.server_fixtures import User

STEP = 10  # VM instructions per progress-handler call


@dataclass
class Work:
    statements: int = 0
    steps: int = 0

    def per(self, records: int) -> tuple[float, float]:
        return self.statements / records, self.steps / records


@contextmanager
def counted(svc: EmbeddedService) -> Iterator[Work]:
    work = Work()
    conn = svc._core.db._conn

    def traced(_sql: str) -> None:
        work.statements += 1

    def stepped() -> int:
        work.steps += 1
        return 0  # carry on

    conn.set_trace_callback(traced)
    conn.set_progress_handler(stepped, STEP)
    try:
        yield work
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, 0)


def upload(svc: EmbeddedService, user: User, collection: str, records: int) -> tuple[Work, Work]:
    """A batch of ``records`` built by 100-record appends, then committed: the work of each."""
    batch = "true"
    with counted(svc) as building:
        for start in range(0, records, 100):
            chunk = [{"id": f"r{start + i:05d}", "payload": "p" * 40} for i in range(100)]
            response = user.post(f"/storage/{collection}?batch={batch}", json=chunk)
            assert response.status_code == 202, response.text
            batch = response.json()["batch"]
    with counted(svc) as committing:
        response = user.post(f"/storage/{collection}?batch={batch}&commit=true", json=[])
    assert response.status_code == 200
    assert response.json()["failed"] == {}
    return building, committing


def test_building_and_committing_a_batch_costs_no_more_per_record_when_it_is_ten_times_bigger(
    svc: EmbeddedService, user: User
) -> None:
    small_build, small_commit = upload(svc, user, "small", 200)
    big_build, big_commit = upload(svc, user, "big", 2000)
    # Fixed costs (auth, the commit request itself) spread thinner over more records, so the
    # bigger batch may cost less per record; it must not cost more.
    for small, big in ((small_build, big_build), (small_commit, big_commit)):
        small_statements, small_steps = small.per(200)
        big_statements, big_steps = big.per(2000)
        assert big_statements <= small_statements
        assert big_steps <= small_steps * 1.05  # B-tree depth may add a step or so
    assert len(user.get("/storage/big").json()) == 2000


def test_a_commit_runs_about_one_statement_per_record(svc: EmbeddedService, user: User) -> None:
    # One insert per record plus a handful per request: not a read and a write per record.
    _, committing = upload(svc, user, "tabs", 1000)
    assert committing.statements < 1000 * 1.05
