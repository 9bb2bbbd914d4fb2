"""The SQLite file under the account store: creation, recognition, transactions, settings.

Contract (the file half of :mod:`beacon.client._store`):

1. The file is created whole: under a temporary name (mode 0600, ``O_EXCL``) with its schema
   committed, then renamed into place, so a kill at any moment leaves no file or a complete
   one. Missing directories are created 0700 whatever the umask; an existing file's mode is
   tightened to 0600 once it is recognised. SQLite's journal inherits the file's mode. A file
   that an older beacon left half-created (killed before SQLite deleted its journal) is
   recovered by SQLite's rollback and then created afresh, never refused.
5. One client at a time: the open file holds an OS lock (:mod:`._lock`); a second client on
   it waits up to ``lock_timeout`` seconds, then gets :class:`~._lock.StateLocked`.
2. It carries :data:`APPLICATION_ID` and :data:`SCHEMA_VERSION`. A file that is not SQLite,
   belongs to another application or has a newer schema raises :class:`~beacon.UsageError`
   and is not modified (not even its mode); an older schema is upgraded in one transaction
   (:data:`_MIGRATIONS`). Opening costs the same whatever the file holds: the whole-file
   ``quick_check`` runs on demand (:meth:`StateFile.check_integrity`) and when SQLite reports
   damage while the file is used, so the error then says "corrupt" and names the file.
3. Rollback journal with ``synchronous=FULL`` and ``secure_delete`` (deleted secrets are
   overwritten). :meth:`StateFile.transaction` nests through savepoints; every statement runs
   inside one; any ``sqlite3`` failure becomes :class:`~beacon.UsageError`.
4. ``settings`` is a key → JSON (or bytes) table for the typed accessors of ``Store``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from beacon._errors import UsageError
from beacon._parse import json_or_none
from beacon.client._lock import StateLock, acquire, private_directories

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "StateFile"]

#: ``PRAGMA application_id``: "bcn1" as a big-endian int32.
APPLICATION_ID = 0x62636E31
#: ``PRAGMA user_version``; bump with a migration when the schema changes.
SCHEMA_VERSION = 3

_SCHEMA = """
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
CREATE INDEX records_outgoing ON records (collection, id) WHERE changed = 1;
"""

# Version n -> n + 1, each run in the transaction that sets the new user_version.
_MIGRATIONS: dict[int, str] = {
    # 1 -> 2: outgoing rows by a partial index, in id order. The old (collection, changed)
    # index lost to the primary key for ``... ORDER BY id``: SQLite walked every row of the
    # collection to find the few changed ones, so a no-change sync cost O(records).
    1: """
    DROP INDEX IF EXISTS records_changed;
    CREATE INDEX records_outgoing ON records (collection, id) WHERE changed = 1;
    """,
    # 2 -> 3: a base equal to the payload is the marker '=payload' (beacon.client._sealed),
    # not a second copy: each record stored once. Older beacons would read the marker as a
    # damaged sealed value, hence the new version. Bases that are byte-for-byte copies of the
    # payload (what an upload left) become the marker here; copies sealed apart (a download
    # wrote them) cannot be compared without the key and stay until the row is next written.
    2: """
    UPDATE records SET base = '=payload' WHERE typeof(base) = 'blob' AND base = payload;
    """,
}

_SQLITE_MAGIC = b"SQLite format 3\x00"


class StateFile:
    """One beacon state file and its connection; not thread-safe.

    Args:
        path: the file; created with mode 0600 if missing.
        lock_timeout: seconds to wait while another client has the file open.

    Raises:
        StateLocked: another client has the file open (a :class:`~beacon.UsageError`).
        UsageError: the file is not SQLite, is corrupt, belongs to another application, or
            has a newer schema; the file is left as it was.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 0.0) -> None:
        self._path = Path(path)
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        self._lock: StateLock | None = None
        if self._path.is_dir():
            raise self._unusable("it is a directory")
        private_directories(self._path.parent)
        self._lock = acquire(self._path, timeout=lock_timeout)
        try:
            self._recover_interrupted()
            self._create_file()
            self._conn = self._connect()
        except BaseException:
            self._lock.release()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def _recover_interrupted(self) -> None:
        """A hot journal beside the file: let SQLite roll the interrupted write back first.

        An older beacon created the file in place; a kill between SQLite writing the schema
        and deleting its journal left a file whose header read as "not SQLite" or "another
        application". The rollback returns it to what it was before (empty, for a creation).
        """
        if not self._path.with_name(self._path.name + "-journal").exists():
            return
        try:
            conn = sqlite3.connect(self._path, isolation_level=None)
            try:
                conn.execute("PRAGMA user_version").fetchone()
            finally:
                conn.close()
        except sqlite3.Error:
            return  # not recoverable by SQLite: the checks of _connect will say why

    def _create_file(self) -> bool:
        """Create the file, schema included, if it is missing or empty; True if created.

        Built under ``<name>.creating`` and renamed into place (the lock is held, so no
        other beacon client races for the name): a kill leaves no file or a complete one.
        """
        path = self._path
        try:
            if path.stat().st_size > 0:
                return False
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise UsageError(f"cannot read the state file {str(path)!r}: {exc.strerror}") from None
        temporary = path.with_name(path.name + ".creating")
        try:
            for leftover in (temporary, temporary.with_name(temporary.name + "-journal")):
                leftover.unlink(missing_ok=True)  # from a creation that was killed
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                if hasattr(os, "fchmod"):  # POSIX: owner-only even if the umask took those bits
                    os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
            conn = sqlite3.connect(temporary, isolation_level=None)
            try:
                conn.execute("PRAGMA synchronous = FULL")
                self._initialise(conn)
            finally:
                conn.close()
            _fsync(temporary)
            os.replace(temporary, path)
            _fsync(path.parent)
        except OSError as exc:
            raise UsageError(
                f"cannot create the state file {str(path)!r}: {exc.strerror}"
            ) from None
        except sqlite3.Error as exc:
            raise UsageError(
                f"cannot create the state file {str(path)!r}: {type(exc).__name__}"
            ) from None
        return True

    def _unusable(self, why: str) -> UsageError:
        return UsageError(f"{str(self._path)!r} is not a usable beacon state file: {why}")

    def _connect(self) -> sqlite3.Connection:
        path = self._path
        try:
            info = os.stat(path)
            with open(path, "rb") as f:
                head = f.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise UsageError(f"cannot read the state file {str(path)!r}: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise self._unusable("not a regular file")
        empty = info.st_size == 0
        if not empty and head != _SQLITE_MAGIC:
            raise self._unusable("not an SQLite database")
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:
            raise self._unusable(type(exc).__name__) from None
        try:
            self._check(conn, empty)
            if info.st_mode & 0o077:
                try:
                    os.chmod(path, 0o600)
                except OSError as exc:
                    raise self._unusable(f"cannot make it owner-only: {exc.strerror}") from None
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")  # overwrite deleted secrets' pages
            if empty:
                self._initialise(conn)
            else:
                self._migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise self._unusable(f"{type(exc).__name__}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, conn: sqlite3.Connection, empty: bool) -> None:
        if empty:
            return
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise self._unusable("it belongs to another application")
        if version > SCHEMA_VERSION:
            raise self._unusable(f"schema {version} is newer than this beacon ({SCHEMA_VERSION})")
        if version < 1:
            raise self._unusable("it has no schema")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Upgrade an older schema to :data:`SCHEMA_VERSION`, all steps in one transaction."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                return
            for step in range(version, SCHEMA_VERSION):
                _run_script(conn, _MIGRATIONS[step])
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def check_integrity(self) -> None:
        """Read the whole file (SQLite's ``quick_check``): cost proportional to its size.

        Not run on open (a sync must not pay for the whole file); run it on demand, and it
        runs by itself when SQLite reports damage during use.

        Raises:
            UsageError: the file is corrupt (named, with ``beacon reset`` to start over).
        """
        try:
            rows = self.connection.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError:
            rows = [("unreadable",)]
        if [r[0] for r in rows] != ["ok"]:
            raise self._unusable("the database is corrupt; start over with `beacon reset`")

    @staticmethod
    def _initialise(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _run_script(conn, _SCHEMA)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def __repr__(self) -> str:
        return f"Store({str(self._path)!r})"

    @property
    def path(self) -> Path:
        """The file."""
        return self._path

    @property
    def connection(self) -> sqlite3.Connection:
        """The SQLite connection, for engines in this package; use inside :meth:`transaction`."""
        if self._conn is None:
            raise UsageError("the store is closed")
        return self._conn

    def close(self) -> None:
        """Close the file and release its lock; the store is unusable afterwards. Idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes in the block commit together or not at all; nestable (savepoints).

        Raises:
            UsageError: the store is closed, or SQLite failed (disk full, locked, corrupt).
        """
        conn = self.connection
        depth = self._depth
        begin, commit, rollback = (
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
            if depth == 0
            else (f"SAVEPOINT s{depth}", f"RELEASE s{depth}", f"ROLLBACK TO s{depth}")
        )
        self._run(conn, begin)
        self._depth = depth + 1
        try:
            yield
        except BaseException:
            self._depth = depth
            self._run(conn, rollback)
            if depth:
                self._run(conn, f"RELEASE s{depth}")
            raise
        self._depth = depth
        try:
            self._run(conn, commit)
        except BaseException:
            if depth == 0 and conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _run(
        self, conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()
    ) -> sqlite3.Cursor:
        try:
            return conn.execute(sql, params)
        except sqlite3.DatabaseError as exc:
            if _damaged(exc):  # say "corrupt" when it is; a full check only on this path
                self.check_integrity()
            raise UsageError(
                f"the state file {str(self._path)!r} failed: {type(exc).__name__}: {exc}"
            ) from None
        except sqlite3.Error as exc:
            raise UsageError(
                f"the state file {str(self._path)!r} failed: {type(exc).__name__}: {exc}"
            ) from None

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run one statement inside the open transaction, or in one of its own; all rows.

        For the engines in this package (the ``records`` table). SQLite failures are
        :class:`~beacon.UsageError`.
        """
        if self._depth:
            return self._run(self.connection, statement, params).fetchall()
        with self.transaction():
            return self._run(self.connection, statement, params).fetchall()

    _sql = execute

    # -- settings ----------------------------------------------------------------------------

    def _get(self, key: str) -> Any:
        rows = self._sql("SELECT value FROM settings WHERE key = ?", (key,))
        if not rows:
            return None
        value = rows[0][0]
        if isinstance(value, bytes):
            return value
        # Unreadable settings (a damaged or edited file) read as absent; the next write
        # replaces them. The bounded parser: a hostile file cannot recurse or overflow either.
        return json_or_none(value) if isinstance(value, str) else None

    def _put(self, key: str, value: Any) -> None:
        if value is None:
            self._sql("DELETE FROM settings WHERE key = ?", (key,))
            return
        stored = value if isinstance(value, bytes) else json.dumps(value, allow_nan=False)
        self._sql(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, stored),
        )

    def _drop(self, keys: Iterable[str]) -> None:
        with self.transaction():
            for key in keys:
                self._put(key, None)


def _damaged(exc: sqlite3.DatabaseError) -> bool:
    """SQLite's words for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB)."""
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _fsync(path: Path) -> None:
    """Flush a file or a directory (the rename) to disk; a no-op where directories cannot be
    opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Each statement of ``script`` inside the caller's transaction (``executescript`` would
    commit it first)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)
