"""The store's costs: outgoing rows come from an index, an old file is upgraded to it.

No timing here (that is ``bench/sync_cost.py``); what is checked is what makes the cost
O(changes): the query plan SQLite chooses, and that a schema-1 file gets the index.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from beacon._crypto import KeyBundle
from beacon._errors import UsageError
from beacon.client import RecordEngine
from beacon.client._sqlite import APPLICATION_ID, SCHEMA_VERSION
from beacon.client._store import Store

ROOT = KeyBundle.from_kb(bytes(range(32)))

# The schema beacon wrote as version 1, verbatim: what an existing state file holds.
_SCHEMA_1 = """
CREATE TABLE settings (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE collections (name TEXT PRIMARY KEY, sync_id TEXT, last_fetch REAL);
CREATE TABLE backoff (node TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE records (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    server_modified REAL,
    local_modified REAL NOT NULL,
    changed INTEGER NOT NULL DEFAULT 0,
    change_counter INTEGER NOT NULL DEFAULT 0,
    base TEXT,
    PRIMARY KEY (collection, id)
);
CREATE INDEX records_changed ON records (collection, changed);
"""

_OUTGOING = (
    "SELECT id FROM records WHERE collection = ? AND changed = 1 AND id > ? ORDER BY id LIMIT ?"
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "account.sqlite3"


def _plan(conn: sqlite3.Connection) -> str:
    rows = conn.execute(f"EXPLAIN QUERY PLAN {_OUTGOING}", ("notes", "", 10)).fetchall()
    return " ".join(str(r[-1]) for r in rows)


def _indexes(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    return {r[0] for r in rows if not r[0].startswith("sqlite_autoindex")}


def _version_1_file(path: Path, rows: int) -> None:
    path.parent.mkdir(mode=0o700, parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(_SCHEMA_1)
    conn.executemany(
        "INSERT INTO records (collection, id, payload, local_modified, changed, change_counter)"
        " VALUES ('notes', ?, NULL, 1.0, ?, 1)",
        [(f"n{i:04d}", int(i % 10 == 0)) for i in range(rows)],
    )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    path.chmod(0o600)


def test_outgoing_rows_are_found_by_the_partial_index_not_a_walk_of_the_collection(
    path: Path,
) -> None:
    with Store(path) as store:
        store.unlock_records(ROOT)
        RecordEngine("notes", store=store).put_many((f"n{i}", {"i": i}) for i in range(50))
        plan = _plan(store.connection)
    assert "records_outgoing" in plan
    assert "sqlite_autoindex_records_1" not in plan  # the primary key: every row of notes


def test_a_schema_1_file_is_upgraded_on_open_and_keeps_its_rows(path: Path) -> None:
    _version_1_file(path, rows=30)
    with Store(path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert _indexes(conn) == {"records_outgoing"}
        assert "records_outgoing" in _plan(conn)
        changed = store.execute(_OUTGOING, ("notes", "", 100))
        assert [r[0] for r in changed] == [f"n{i:04d}" for i in range(0, 30, 10)]
        assert store.execute("SELECT count(*) FROM records")[0][0] == 30
    with Store(path) as store:  # upgraded once: a second open finds nothing to do
        assert store.connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_upgrade_that_fails_leaves_the_old_file_as_it_was(path: Path) -> None:
    _version_1_file(path, rows=3)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE records_outgoing (x)")  # the new index's name, taken
    conn.close()
    before = path.read_bytes()
    with pytest.raises(UsageError, match="not a usable beacon state file"):
        Store(path)
    assert path.read_bytes() == before
