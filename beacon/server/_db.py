"""The embedded service's SQLite database: schema, connection, one lock, secrets.

Contract:

* ``Database(path)`` opens (and creates) ``path``; ``path=None`` keeps everything in memory.
  The schema is created idempotently, so reopening a file keeps accounts, users, records and
  secrets: the service survives a restart.
* One connection, shared by every thread, guarded by :attr:`Database.lock` (an ``RLock``).
  :meth:`Database.transaction` takes the lock and commits (or rolls back) as one unit; every
  write in the server goes through it. :meth:`Database.reading` takes the lock only, for
  requests that only read.
* A new database file is created owner-only (0600): it holds the secrets.
* :meth:`Database.secret` returns a named random secret, generated on first use and stored in
  the ``meta`` table (master secret for tokens, OAuth signing secret, metrics secret). Secrets
  are never logged and never appear in a repr.
* Timestamps in the tables are integer milliseconds (multiples of 10, docs/protocol.md §3.3);
  ``expiry`` is NULL for records without a TTL.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from beacon._errors import UsageError
from beacon.server._bso import wire_json

_BSOS = """
-- ``wire`` is the BSO as a GET answers it (ASCII JSON, _bso.wire_json), written with the
-- record, so a page is a join of stored bytes; ``bytes`` is the payload's UTF-8 size (quota).
CREATE TABLE IF NOT EXISTS bsos (
    node INTEGER NOT NULL, uid INTEGER NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL,
    sortindex INTEGER, modified INTEGER NOT NULL, expiry INTEGER,
    bytes INTEGER NOT NULL, wire BLOB NOT NULL,
    PRIMARY KEY (node, uid, collection, id)
);
-- Pages sort by (modified, id): the index serves the order and the keyset offsets (§3.5).
CREATE INDEX IF NOT EXISTS bsos_by_modified_id ON bsos (node, uid, collection, modified, id);
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- Firefox Accounts stand-in: one row per account.
CREATE TABLE IF NOT EXISTS accounts (
    fxa_uid TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    keys_changed_at INTEGER NOT NULL,
    created_at REAL NOT NULL
);
-- Token server users (docs/protocol.md §1.4): a new client state or a node move makes a new row
-- (uid); the old row is marked replaced.
CREATE TABLE IF NOT EXISTS users (
    uid INTEGER PRIMARY KEY AUTOINCREMENT,
    fxa_uid TEXT NOT NULL,
    node INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    keys_changed_at INTEGER NOT NULL,
    client_state TEXT NOT NULL,
    created_at REAL NOT NULL,
    replaced_at REAL,
    -- Unused since tokens carry only standard claims (kept so older files still open).
    token_serial INTEGER NOT NULL DEFAULT 0,
    expired_below INTEGER NOT NULL DEFAULT 0,
    revoked_below INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS users_by_fxa ON users (fxa_uid, replaced_at);
-- What each storage node knows of its uids: retired, revoked or expired tokens (_node_records).
CREATE TABLE IF NOT EXISTS node_users (
    node INTEGER NOT NULL, uid INTEGER NOT NULL,
    retired_at REAL,
    void_through REAL NOT NULL DEFAULT 0,
    expired_through REAL NOT NULL DEFAULT 0,
    issued_through REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (node, uid)
);
-- Storage (docs/protocol.md §3): per (node, uid) store, collections and BSOs.
CREATE TABLE IF NOT EXISTS stores (
    node INTEGER NOT NULL, uid INTEGER NOT NULL, modified INTEGER NOT NULL,
    PRIMARY KEY (node, uid)
);
CREATE TABLE IF NOT EXISTS collections (
    node INTEGER NOT NULL, uid INTEGER NOT NULL, name TEXT NOT NULL, modified INTEGER NOT NULL,
    PRIMARY KEY (node, uid, name)
);
-- ``records``/``bytes`` count what was appended, so an append need not recount the batch.
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node INTEGER NOT NULL, uid INTEGER NOT NULL, collection TEXT NOT NULL,
    created INTEGER NOT NULL,
    records INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, fields TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (batch, seq)
);
"""
    + _BSOS
)

DB_FILENAME = "beacon-server.sqlite3"
#: ``PRAGMA user_version`` of the schema above. Files from before versioning are 0.
SCHEMA_VERSION = 1
# The page cache (KiB): the default 2 MiB holds fewer than 2,000 records of 1 KB.
_CACHE_KIB = 32 * 1024


def _statements(script: str) -> list[str]:
    """The statements of a schema script, for running inside one transaction
    (``executescript`` would commit first)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        if not pending and (not line.strip() or line.lstrip().startswith("--")):
            continue  # comments between statements
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending)
            pending = ""
    assert not pending.strip(), "the schema script ends in an unfinished statement"
    return statements


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate_0_to_1(conn: sqlite3.Connection) -> None:
    """Unversioned files: render each record's ``wire`` form (the payload column goes) and
    count each open batch's records and bytes."""
    if "payload" in _columns(conn, "bsos"):  # empty when the table is missing
        conn.execute("DROP INDEX IF EXISTS bsos_by_modified")
        conn.execute("DROP INDEX IF EXISTS bsos_by_modified_id")
        conn.execute("ALTER TABLE bsos RENAME TO bsos_v0")
        for statement in _statements(_BSOS):
            conn.execute(statement)
        rows = conn.execute(
            "SELECT node, uid, collection, id, sortindex, modified, expiry, payload FROM bsos_v0"
        )
        conn.executemany(
            "INSERT INTO bsos (node, uid, collection, id, sortindex, modified, expiry, bytes,"
            " wire) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (*row[:7], len(row[7].encode("utf-8")), wire_json(row[3], row[5], row[7], row[4]))
                for row in rows  # read row by row: the file may hold many records
            ),
        )
        conn.execute("DROP TABLE bsos_v0")
    batch_columns = _columns(conn, "batches")
    if batch_columns and "records" not in batch_columns:
        conn.execute("ALTER TABLE batches ADD COLUMN records INTEGER NOT NULL DEFAULT 0")
        conn.execute("ALTER TABLE batches ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0")
        conn.execute(
            "UPDATE batches SET records = (SELECT COUNT(*) FROM batch_items WHERE batch ="
            " batches.id), bytes = (SELECT COALESCE(SUM(bytes), 0) FROM batch_items WHERE"
            " batch = batches.id)"
        )


# Version n -> n + 1, each run in the transaction that sets the new user_version.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {0: _migrate_0_to_1}


class Database:
    """One SQLite connection with a lock; see the module docstring."""

    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        self.path = path
        if path is not None and not path.exists():
            # The file holds the token master secret: owner-only from the start (SQLite gives
            # its -wal/-shm files the same permissions).
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        with self.lock:
            if path is not None:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                self._conn.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
            try:
                self._upgrade()
            except BaseException:
                self._conn.close()
                raise

    def _upgrade(self) -> None:
        """Create the schema, or bring an older file's up to :data:`SCHEMA_VERSION`."""
        conn = self._conn
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} was written by a newer beacon (server schema {version}; this"
                f" beacon reads up to {SCHEMA_VERSION}); upgrade beacon to open it"
            )
        if version == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            fresh = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
            if not fresh:
                for step in range(version, SCHEMA_VERSION):
                    _MIGRATIONS[step](conn)
            for statement in _statements(_SCHEMA):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def __repr__(self) -> str:
        return f"Database({str(self.path) if self.path else ':memory:'})"

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run one transaction; commit on success, roll back on error."""
        with self.lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock for reads only, without BEGIN and COMMIT (half a read's cost): with
        one connection behind one lock no write can come between two reads."""
        with self.lock:
            yield self._conn

    def secret(self, name: str, *, make: Callable[[], str] | None = None) -> str:
        """The stored secret ``name``, created (random, or by ``make``) on first use."""
        with self.transaction() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
            if row is not None:
                return str(row[0])
            value = make() if make is not None else secrets.token_urlsafe(32)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (name, value))
            return value

    def close(self) -> None:
        with self.lock:
            self._conn.close()
