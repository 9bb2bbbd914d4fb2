"""The local SQLite store: permissions, transactions, secrets at rest, bad files, persistence."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from beacon._crypto import CollectionKeys, KeyBundle, client_state
from beacon._errors import UsageError
from beacon.client._lock import StateLocked
from beacon.client._store import SCHEMA_VERSION, Cached, CollectionState, NodeAssignment, Store
from beacon.client._tokenclient import Token
from tests.client.sync_world import World

KB = bytes(range(32))
ROOT = KeyBundle.from_kb(KB)
TOKEN = Token(
    id="TOKEN-ID-SECRET-0123456789",
    key="TOKEN-KEY-SECRET-abcdefghij=",
    uid=42,
    api_endpoint="https://db1.test/1.5/42",
    duration=3600,
    hashed_fxa_uid="f" * 32,
    fetched_at=1_700_000_000.0,
    node_type="spanner",
    server_offset=-120.0,
)


def counter_rng() -> object:
    state = {"n": 0}

    def rng(n: int) -> bytes:
        state["n"] += 1
        return bytes((state["n"] + i) % 256 for i in range(n))

    return rng


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "account.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    with Store(path) as s:
        yield s


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_file_and_directory_are_owner_only(store: Store, path: Path) -> None:
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    journal = path.with_name(path.name + "-journal")
    with store.transaction():
        store.set_client_name("laptop")
        assert mode(journal) == 0o600  # SQLite gives its journal the file's mode
    assert not journal.exists()
    assert mode(path) == 0o600


def test_an_existing_file_is_tightened_to_0600(path: Path) -> None:
    Store(path).close()
    os.chmod(path, 0o644)
    with Store(path):
        assert mode(path) == 0o600


def test_the_file_is_created_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "loose.sqlite3"
        Store(target).close()
    finally:
        os.umask(old)
    assert mode(target) == 0o600


def test_schema_version_and_application_id_are_in_the_file(store: Store, path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] != 0
    finally:
        conn.close()


# -- transactions ------------------------------------------------------------------------------


def test_a_failed_transaction_rolls_everything_back(store: Store) -> None:
    store.set_client_name("before")

    def crash() -> None:
        with store.transaction():
            store.set_client_name("after")
            store.set_last_fetch("tabs", 12.5)
            store.set_backoff_until("https://n:443", 99.0)
            raise RuntimeError("crash in the middle")

    with pytest.raises(RuntimeError, match="crash"):
        crash()
    assert store.client_name() == "before"
    assert store.collection_state("tabs") == CollectionState("tabs")
    assert store.backoff_until("https://n:443") is None


def test_nested_blocks_are_savepoints(store: Store) -> None:
    def inner() -> None:
        with store.transaction():
            store.set_last_fetch("tabs", 1.0)
            raise ValueError("inner fails")

    with store.transaction():
        store.set_client_name("outer")
        with pytest.raises(ValueError, match="inner fails"):
            inner()
        store.set_last_fetch("forms", 2.0)
    assert store.client_name() == "outer"
    assert store.collection_state("tabs").last_fetch is None
    assert store.collection_state("forms").last_fetch == 2.0


def test_committed_writes_survive_reopening(path: Path) -> None:
    with Store(path) as s, s.transaction():
        s.set_client_name("desk")
        s.set_last_fetch("tabs", 3.0)
    with Store(path) as s:
        assert s.client_name() == "desk"
        assert s.collection_state("tabs").last_fetch == 3.0


def test_uncommitted_writes_are_lost_when_the_process_dies(path: Path) -> None:
    with Store(path) as s:
        s.set_client_name("committed")
    # A child process writes inside a transaction and is killed before COMMIT.
    child = (
        "import os, sys\n"
        "from beacon.client._store import Store\n"
        "s = Store(sys.argv[1])\n"
        "with s.transaction():\n"
        "    s.set_client_name('never committed')\n"
        "    s.set_last_fetch('tabs', 1.0)\n"
        "    os._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", child, str(path)], check=False, timeout=60)
    assert done.returncode == 9
    with Store(path) as again:
        assert again.client_name() == "committed"
        assert again.collection_state("tabs").last_fetch is None


def test_a_closed_store_refuses_use(path: Path) -> None:
    s = Store(path)
    s.close()
    s.close()  # idempotent
    with pytest.raises(UsageError):
        s.client_name()


# -- secrets at rest ---------------------------------------------------------------------------


def test_keys_and_token_are_not_in_plaintext_in_the_file(path: Path) -> None:
    keys = CollectionKeys.generate(["bookmarks"])
    secrets = [
        TOKEN.id.encode(),
        TOKEN.key.encode(),
        *(part.encode() for part in keys.default.to_b64()),
        *(part.encode() for part in keys.collections["bookmarks"].to_b64()),
        keys.default.encryption_key,
        keys.default.hmac_key,
        KB,
        ROOT.encryption_key,
        ROOT.hmac_key,
    ]
    with Store(path) as s:
        s.set_token(TOKEN, root=ROOT)
        s.set_crypto_keys(keys, timestamp=5.0, root=ROOT)
        s.adopt_kb_fingerprint(client_state(KB))
        assert s.token(ROOT) == TOKEN
        cached = s.crypto_keys(ROOT)
        assert cached is not None
        assert cached.value == keys
        assert cached.timestamp == 5.0
    data = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert b"TOKEN-" not in data
    for secret in secrets:
        assert secret not in data


def test_secrets_from_another_kb_read_as_absent(store: Store) -> None:
    other = KeyBundle.from_kb(bytes(32))
    store.set_token(TOKEN, root=ROOT)
    store.set_crypto_keys(CollectionKeys.generate(), timestamp=1.0, root=ROOT)
    assert store.token(other) is None
    assert store.crypto_keys(other) is None
    assert store.token(ROOT) == TOKEN  # nothing was destroyed


def test_caching_keys_needs_the_root_bundle(store: Store) -> None:
    with pytest.raises(UsageError):
        store.set_crypto_keys(CollectionKeys.generate(), timestamp=1.0)


# -- bad files --------------------------------------------------------------------------------


def test_a_corrupt_file_is_a_usage_error_and_is_untouched(path: Path) -> None:
    path.parent.mkdir(parents=True)
    garbage = b"this is not a database at all" * 100
    path.write_bytes(garbage)
    os.chmod(path, 0o640)
    with pytest.raises(UsageError, match="not an SQLite database"):
        Store(path)
    assert path.read_bytes() == garbage
    assert mode(path) == 0o640


def test_a_damaged_sqlite_file_is_a_usage_error(path: Path) -> None:
    with Store(path) as s:
        for i in range(200):
            s.set_last_fetch(f"c{i}", float(i))
    data = bytearray(path.read_bytes())
    data[4096 : 4096 * 2] = b"\xa5" * 4096  # smash the second page
    path.write_bytes(bytes(data))
    # Opening reads no more than the header (a sync must not pay for the whole file); the
    # damage is named as such when a read meets it, and by the check on demand.
    with Store(path) as s:
        with pytest.raises(UsageError, match="corrupt") as raised:
            s.execute("SELECT * FROM settings")  # the smashed page is the settings table
        assert str(path) in str(raised.value)
        with pytest.raises(UsageError, match=r"corrupt.*beacon reset"):
            s.check_integrity()
    assert path.read_bytes() == bytes(data)


def test_an_intact_file_passes_the_integrity_check(path: Path) -> None:
    with Store(path) as s:
        s.set_last_fetch("notes", 1.0)
        s.check_integrity()


def test_another_applications_database_is_refused(path: Path) -> None:
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE mine (x)")
    conn.execute("INSERT INTO mine VALUES (1)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(UsageError, match="another application"):
        Store(path)
    assert path.read_bytes() == before


def test_a_newer_schema_is_refused(path: Path) -> None:
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(UsageError, match="newer"):
        Store(path)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        Store(tmp_path)


# -- what it persists ------------------------------------------------------------------------


def test_client_id_is_generated_once_and_stable(path: Path) -> None:
    with Store(path) as s:
        first = s.client_id()
        assert len(first) == 12
        assert s.client_id() == first
    with Store(path) as s:
        assert s.client_id() == first


def test_everything_in_the_persistence_list_round_trips(path: Path) -> None:
    keys = CollectionKeys.generate()
    with Store(path) as s:
        s.adopt_kb_fingerprint("fp")
        s.set_token(TOKEN, root=ROOT)
        s.set_node_assignment(TOKEN.api_endpoint, TOKEN.uid)
        s.set_global_sync_id("GLOBALsyncID")
        s.set_meta_global('{"syncID": "GLOBALsyncID"}', timestamp=10.5)
        s.set_crypto_keys(keys, timestamp=11.25, root=ROOT)
        s.set_info_collections({"meta": 10.5, "crypto": 11.25}, timestamp=12.0)
        s.set_engine_config(enabled=["tabs", "clients"], declined=["passwords"])
        s.set_collection_sync_id("tabs", "TABSsyncID00")
        s.set_last_fetch("tabs", 12.0)
        s.set_backoff_until("https://db1.test:443", 500.0)
        s.set_auth_failed(True)
        s.set_counter("runs", 3)
        s.set_snapshot(b'{"configuration": ["Ready"]}')
    with Store(path) as s:
        assert s.kb_fingerprint() == "fp"
        assert s.token(ROOT) == TOKEN
        assert s.node_assignment() == NodeAssignment(TOKEN.api_endpoint, 42)
        assert s.global_sync_id() == "GLOBALsyncID"
        assert s.meta_global() == Cached('{"syncID": "GLOBALsyncID"}', 10.5)
        assert s.crypto_keys(ROOT) == Cached(keys, 11.25)
        assert s.info_collections() == Cached({"meta": 10.5, "crypto": 11.25}, 12.0)
        assert s.enabled_engines() == frozenset({"tabs", "clients"})
        assert s.declined_engines() == frozenset({"passwords"})
        assert s.collection_state("tabs") == CollectionState("tabs", "TABSsyncID00", 12.0)
        assert s.collection_states() == {"tabs": CollectionState("tabs", "TABSsyncID00", 12.0)}
        assert s.backoff_until("https://db1.test:443") == 500.0
        assert s.auth_failed() is True
        assert s.counter("runs") == 3
        assert s.counter("other") == 0
        assert s.snapshot() == b'{"configuration": ["Ready"]}'


def test_unknown_declined_is_distinct_from_empty(store: Store) -> None:
    assert store.declined_engines() is None
    assert store.enabled_engines() is None
    store.set_engine_config(enabled=[], declined=[])
    assert store.declined_engines() == frozenset()


def test_a_new_collection_sync_id_drops_the_last_fetch(store: Store) -> None:
    assert store.set_collection_sync_id("tabs", "AAAAAAAAAAAA") is True
    store.set_last_fetch("tabs", 50.0)
    assert store.set_collection_sync_id("tabs", "AAAAAAAAAAAA") is False
    assert store.collection_state("tabs").last_fetch == 50.0
    assert store.set_collection_sync_id("tabs", "BBBBBBBBBBBB") is True
    assert store.collection_state("tabs") == CollectionState("tabs", "BBBBBBBBBBBB", None)
    store.reset_collection("tabs")
    assert store.collection_state("tabs") == CollectionState("tabs")


def test_backoff_keeps_the_later_time_per_node(store: Store) -> None:
    store.set_backoff_until("a", 100.0)
    store.set_backoff_until("a", 50.0)
    store.set_backoff_until("b", 70.0)
    assert store.backoff_until("a") == 100.0
    assert store.backoff_until("b") == 70.0
    store.set_backoff_until("a", None)
    assert store.backoff_until("a") is None
    assert store.backoff_until("b") == 70.0


def fill(store: Store) -> None:
    store.adopt_kb_fingerprint("fp-1")
    store.set_client_name("desk")
    store.set_token(TOKEN, root=ROOT)
    store.set_node_assignment(TOKEN.api_endpoint, TOKEN.uid)
    store.set_global_sync_id("GLOBALsyncID")
    store.set_meta_global("{}", timestamp=1.0)
    store.set_crypto_keys(CollectionKeys.generate(), timestamp=1.0, root=ROOT)
    store.set_info_collections({"meta": 1.0}, timestamp=1.0)
    store.set_engine_config(enabled=["tabs"], declined=["forms"])
    store.set_collection_sync_id("tabs", "TABSsyncID00")
    store.set_last_fetch("tabs", 1.0)
    store.set_backoff_until("node", 9.0)


def test_node_reassignment_drops_the_node_caches_only(store: Store) -> None:
    fill(store)
    client = store.client_id()
    store.drop_node_scoped()
    assert store.global_sync_id() is None
    assert store.meta_global() is None
    assert store.crypto_keys(ROOT) is None
    assert store.info_collections() is None
    assert store.collection_states() == {}
    assert store.token(ROOT) == TOKEN
    assert store.declined_engines() == frozenset({"forms"})
    assert store.enabled_engines() == frozenset({"tabs"})
    assert store.client_id() == client
    assert store.client_name() == "desk"
    assert store.kb_fingerprint() == "fp-1"


def test_a_kb_change_drops_everything_kb_scoped(store: Store) -> None:
    fill(store)
    client = store.client_id()
    assert store.adopt_kb_fingerprint("fp-1") is False
    assert store.token(ROOT) == TOKEN
    assert store.adopt_kb_fingerprint("fp-2") is True
    assert store.kb_fingerprint() == "fp-2"
    assert store.token(ROOT) is None
    assert store.node_assignment() is None
    assert store.meta_global() is None
    assert store.collection_states() == {}
    assert store.declined_engines() == frozenset({"forms"})
    assert store.client_id() == client


def test_clear_forgets_everything(store: Store) -> None:
    fill(store)
    client = store.client_id(rng=counter_rng())  # type: ignore[arg-type]
    store.connection.execute(
        "INSERT INTO records (collection, id, payload, local_modified) VALUES ('t', 'a', '{}', 1)"
    )
    store.clear()
    assert store.kb_fingerprint() is None
    assert store.client_name() is None
    assert store.token(ROOT) is None
    assert store.declined_engines() is None
    assert store.backoff_until("node") is None
    assert store.connection.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    assert store.client_id() != client


def test_bad_arguments_are_usage_errors(store: Store) -> None:
    with pytest.raises(UsageError):
        store.set_client_name("")
    with pytest.raises(UsageError):
        store.set_snapshot("text")  # type: ignore[arg-type]


# -- creation is atomic, directories are private, one client at a time --------------------------


def _run_child(code: str, *args: str) -> int:
    done = subprocess.run([sys.executable, "-c", code, *args], check=False, timeout=60)
    return done.returncode


def test_a_file_whose_creation_was_killed_before_sqlite_deleted_its_journal_opens(
    path: Path,
) -> None:
    # What a kill in the middle of an in-place creation leaves: the schema's pages written
    # into the file (a one-page cache spills them before COMMIT) and a hot journal beside it.
    child = (
        "import os, sqlite3, sys\n"
        "from beacon.client._sqlite import _SCHEMA, APPLICATION_ID, SCHEMA_VERSION\n"
        "path = sys.argv[1]\n"
        "os.makedirs(os.path.dirname(path), mode=0o700)\n"
        "os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))\n"
        "conn = sqlite3.connect(path, isolation_level=None)\n"
        "conn.execute('PRAGMA cache_size = 1')\n"
        "conn.execute('BEGIN IMMEDIATE')\n"
        "for statement in _SCHEMA.split(';'):\n"
        "    if statement.strip():\n"
        "        conn.execute(statement)\n"
        "conn.execute(f'PRAGMA application_id = {APPLICATION_ID}')\n"
        "conn.execute(f'PRAGMA user_version = {SCHEMA_VERSION}')\n"
        "os._exit(9)\n"
    )
    assert _run_child(child, str(path)) == 9
    assert path.stat().st_size > 0
    assert path.with_name(path.name + "-journal").exists()
    with Store(path) as s:  # not "not SQLite", not "another application": recovered, created
        s.set_client_name("after the crash")
    with Store(path) as s:
        assert s.client_name() == "after the crash"


def test_a_kill_during_creation_leaves_no_file_or_a_complete_one(path: Path) -> None:
    # Killed at the last step of a creation (just before the rename into place).
    child = (
        "import os, sys\n"
        "os.replace = lambda *a, **k: os._exit(9)\n"
        "from beacon.client._store import Store\n"
        "Store(sys.argv[1])\n"
    )
    assert _run_child(child, str(path)) == 9
    assert not path.exists()
    with Store(path) as s:
        s.set_client_name("created on the next run")
    assert not path.with_name(path.name + ".creating").exists()


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277])
def test_missing_directories_are_created_owner_only_whatever_the_umask(
    tmp_path: Path, umask: int
) -> None:
    target = tmp_path / "home" / "beacon" / "device" / "state.sqlite3"
    old = os.umask(umask)
    try:
        Store(target).close()
    finally:
        os.umask(old)
    for directory in (tmp_path / "home", tmp_path / "home" / "beacon", target.parent):
        assert mode(directory) == 0o700, directory
    assert mode(target) == 0o600


def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    Store(shared / "state.sqlite3").close()
    assert mode(shared) == 0o755


def test_a_second_client_on_the_same_state_is_refused_while_the_first_is_open(
    path: Path,
) -> None:
    first = Store(path)
    with pytest.raises(StateLocked, match="another beacon client") as caught:
        Store(path)
    assert isinstance(caught.value, UsageError)
    with pytest.raises(StateLocked):
        Store(path, lock_timeout=0.2)  # waits a bounded time, then gives up
    first.close()
    with Store(path) as again:  # released on close
        again.set_client_name("mine now")


def test_another_process_holding_the_state_refuses_us_and_its_death_releases_it(
    path: Path,
) -> None:
    Store(path).close()
    code = (
        "import sys\nfrom beacon.client._store import Store\n"
        "s = Store(sys.argv[1])\nprint('open', flush=True)\nsys.stdin.readline()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "open"
            with pytest.raises(StateLocked):
                Store(path)
        finally:
            holder.kill()  # no close(): the OS drops the lock with the process
            holder.wait(timeout=60)
    with Store(path) as s:
        s.set_client_name("after the holder died")


def test_two_clients_on_one_state_directory_cannot_both_sync(world: World) -> None:
    a = world.device("a")
    a.notes.put("n1", {"text": "once"})
    with pytest.raises(StateLocked, match="a sync is running"):
        world.device("a")  # a second client (another process, a second cron job) on it
    a.client.sync()
    posts = [r for r in world.writes() if r.method == "POST" and r.path.endswith("/notes")]
    assert len(posts) == 1  # uploaded once, not once per client
