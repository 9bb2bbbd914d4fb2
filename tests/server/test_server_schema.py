"""The server database's schema version: files from before versioning are migrated, files
from a newer beacon are refused and left alone."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from beacon import UsageError
from beacon.server import EmbeddedService, _batches, _store
from beacon.server._db import DB_FILENAME, SCHEMA_VERSION, Database
from tests.server.server_fixtures import Clock, User, counter_rng, make_user

# The tables whose layout version 1 changed, as unversioned beacons created them.
_V0 = """
CREATE TABLE bsos (
    node INTEGER NOT NULL, uid INTEGER NOT NULL, collection TEXT NOT NULL, id TEXT NOT NULL,
    sortindex INTEGER, payload TEXT NOT NULL, modified INTEGER NOT NULL, expiry INTEGER,
    PRIMARY KEY (node, uid, collection, id)
);
CREATE INDEX bsos_by_modified_id ON bsos (node, uid, collection, modified, id);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node INTEGER NOT NULL, uid INTEGER NOT NULL, collection TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE batch_items (
    batch INTEGER NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, fields TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (batch, seq)
);
"""
NOW = 1_700_000_000_000


def _v0_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(_V0)
    conn.executemany(
        "INSERT INTO bsos VALUES (1, 7, 'tabs', ?, ?, ?, ?, ?)",
        [
            ("plain", None, '{"ciphertext":"c"}', NOW - 1230, None),
            ("sorted", 42, "caf\u00e9 \u2713", NOW - 500, NOW + 60_000),
            ("gone", None, "old", NOW - 9000, NOW - 1),
        ],
    )
    conn.execute(
        "INSERT INTO batches (node, uid, collection, created) VALUES (1, 7, 'tabs', ?)", (NOW,)
    )
    conn.executemany(
        "INSERT INTO batch_items VALUES (1, ?, ?, ?, ?)",
        [
            (1, "a", json.dumps({"id": "a", "payload": "xyz"}), 3),
            (2, "b", json.dumps({"id": "b", "payload": "hello"}), 5),
        ],
    )
    conn.commit()
    conn.close()


def test_a_file_from_before_versioning_keeps_its_records_and_batches(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    _v0_file(path)
    db = Database(path)
    try:
        with db.transaction() as conn:
            rows = _store.records(conn, 1, 7, "tabs", NOW)
            batch = _batches.find_batch(conn, 1, 7, "tabs", 1, NOW)
            usage = _store.collection_usage(conn, 1, 7, NOW)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            gone = conn.execute("SELECT COUNT(*) FROM bsos WHERE id = 'gone'").fetchone()[0]
        assert version == SCHEMA_VERSION
        assert [json.loads(r.wire) for r in rows] == [
            {"id": "plain", "modified": 1699999998.77, "payload": '{"ciphertext":"c"}'},
            {
                "id": "sorted",
                "modified": 1699999999.5,
                "payload": "caf\u00e9 \u2713",
                "sortindex": 42,
            },
        ]
        assert rows[1].payload == "caf\u00e9 \u2713"
        assert b"1699999998.77," in rows[0].wire  # two decimals, as the wire wants them
        assert gone == 1  # expired rows are migrated too (invisible, as before)
        assert usage == {"tabs": 18 + len("caf\u00e9 \u2713".encode())}
        assert batch == _batches.BatchInfo(1, 2, 8)
        with db.transaction() as conn:
            assert _batches.take_batch(conn, 1) == [
                {"id": "a", "payload": "xyz"},
                {"id": "b", "payload": "hello"},
            ]
    finally:
        db.close()


def _downgrade(path: Path) -> None:
    """Rewrite a current file in the unversioned layout (payload column, uncounted batches)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(
        """
        CREATE TABLE bsos_v0 (
            node INTEGER NOT NULL, uid INTEGER NOT NULL, collection TEXT NOT NULL,
            id TEXT NOT NULL, sortindex INTEGER, payload TEXT NOT NULL,
            modified INTEGER NOT NULL, expiry INTEGER,
            PRIMARY KEY (node, uid, collection, id)
        );
        INSERT INTO bsos_v0 SELECT node, uid, collection, id, sortindex,
            json_extract(CAST(wire AS TEXT), '$.payload'), modified, expiry FROM bsos;
        DROP TABLE bsos;
        ALTER TABLE bsos_v0 RENAME TO bsos;
        CREATE INDEX bsos_by_modified_id ON bsos (node, uid, collection, modified, id);
        ALTER TABLE batches DROP COLUMN records;
        ALTER TABLE batches DROP COLUMN bytes;
        PRAGMA user_version = 0;
        """
    )
    conn.close()


def test_a_migrated_file_answers_the_same_bytes_and_commits_its_open_batch(
    tmp_path: Path,
) -> None:
    clock = Clock()
    svc = EmbeddedService(data_dir=tmp_path, clock=clock, rng=counter_rng())
    user = make_user(svc, clock)
    records: list[dict[str, Any]] = [
        {"id": "a", "payload": "caf\u00e9 \u2713", "sortindex": 3},
        {"id": "b", "payload": '{"IV": "\\"quoted\\""}'},
    ]
    assert user.post("/storage/tabs", json=records).status_code == 200
    opened = user.post("/storage/tabs?batch=true", json=[{"id": "c", "payload": "later"}])
    batch = opened.json()["batch"]
    before = user.get("/storage/tabs?full=1").content
    user.http.close()
    svc.close()
    _downgrade(tmp_path / DB_FILENAME)
    with closing(sqlite3.connect(tmp_path / DB_FILENAME)) as conn:
        assert "payload" in {row[1] for row in conn.execute("PRAGMA table_info(bsos)")}

    with EmbeddedService(data_dir=tmp_path, clock=clock, rng=counter_rng()) as again:
        # The token secrets live in the file, so the old token still verifies.
        back = User(again, clock, user.account, user.kb, user.token, user.nonce_counter)
        assert back.get("/storage/tabs?full=1").content == before
        assert back.get("/info/collection_usage").json() == {
            "tabs": (len("caf\u00e9 \u2713".encode()) + len(records[1]["payload"])) / 1024
        }
        committed = back.post(f"/storage/tabs?batch={batch}&commit=true", json=[])
        assert committed.status_code == 200
        assert back.get("/storage/tabs/c").json()["payload"] == "later"
        back.http.close()


def test_a_file_from_a_newer_beacon_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(UsageError, match="newer beacon"):
        Database(path)
    with pytest.raises(UsageError, match="newer beacon"):
        EmbeddedService(data_dir=tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_current_file_reopens_unchanged(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with EmbeddedService(data_dir=tmp_path) as svc:
        account = svc.create_account()
    with EmbeddedService(data_dir=tmp_path) as svc:
        assert svc.account(account.fxa_uid).fxa_uid == account.fxa_uid
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()
