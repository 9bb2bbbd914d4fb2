"""Another device, acting on the account's storage directly, as a real second client would.

Contract:

* :class:`Elsewhere` reads and writes the current storage of one account through the embedded
  service's Python fault API (no HTTP, so it never consumes an injected fault or counts as a
  device's request). It knows the account's kB, so it can read and write crypto/keys and
  encrypt records the way any Sync client does.
* Each method is one thing another device does: a fresh start (wipe, new meta/global with new
  syncIDs and storage version 5, new keys), a key rotation (new keys; the collections whose key
  changed are wiped first, as a rotating client does), a changed engine syncID, a declined or
  re-enabled engine, a rewritten storage version, deleted meta/global or crypto/keys, a record
  that fails its HMAC, a record uploaded or deleted (a tombstone).
* :meth:`Elsewhere.records` decrypts one collection for the convergence oracle: live records by
  id; tombstones and records that do not verify are left out (and counted in ``undecryptable``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from beacon._crypto import CollectionKeys, KeyBundle, decrypt_record, encrypt_record
from beacon._errors import BeaconError, RecordIntegrityError, UsageError
from beacon._protocol import STORAGE_VERSION, new_sync_id

__all__ = ["Elsewhere"]


_sync_id = new_sync_id


class Elsewhere:
    """Another device of the same account (see the module docstring)."""

    def __init__(
        self,
        svc: Any,
        *,
        fxa_uid: Callable[[], str],
        kb: Callable[[], bytes],
        engines: tuple[str, ...],
        rng: Callable[[int], bytes],
    ) -> None:
        self._svc = svc
        self._fxa_uid = fxa_uid
        self._kb = kb
        self._engines = engines
        self._rng = rng
        self.undecryptable = 0

    def __repr__(self) -> str:
        return f"Elsewhere(engines={list(self._engines)!r})"

    # -- raw storage ---------------------------------------------------------------------------
    def _rows(self, collection: str) -> Mapping[str, Mapping[str, Any]]:
        try:
            rows: Mapping[str, Mapping[str, Any]] = self._svc.faults.records(
                self._fxa_uid(), collection
            )
        except UsageError:  # the account has no storage user yet: nothing is stored
            return {}
        return rows

    def _get(self, collection: str, bso_id: str) -> str | None:
        row = self._rows(collection).get(bso_id)
        return None if row is None else str(row["payload"])

    def _put(self, collection: str, bso_id: str, payload: str) -> None:
        self._svc.faults.put_record(self._fxa_uid(), collection, bso_id, payload)

    def _delete(self, collection: str, bso_id: str | None = None) -> None:
        if bso_id is None:
            self._svc.faults.delete_collection(self._fxa_uid(), collection)
        else:
            self._svc.faults.delete_record(self._fxa_uid(), collection, bso_id)

    # -- meta/global and crypto/keys -------------------------------------------------------
    def meta_global(self) -> dict[str, Any] | None:
        """The meta/global cleartext, or None when missing or unreadable."""
        payload = self._get("meta", "global")
        if payload is None:
            return None
        try:
            data = json.loads(payload)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def put_meta_global(self, meta: Mapping[str, Any]) -> None:
        """Replace meta/global (no encryption: meta/global is cleartext JSON)."""
        self._put("meta", "global", json.dumps(dict(meta), sort_keys=True))

    def keys(self) -> CollectionKeys | None:
        """crypto/keys decrypted under the current kB, or None (missing, or another kB's)."""
        payload = self._get("crypto", "keys")
        if payload is None:
            return None
        try:
            return CollectionKeys.decrypt(KeyBundle.from_kb(self._kb()), payload)
        except BeaconError:
            return None

    def put_keys(self, keys: CollectionKeys) -> None:
        """Upload ``keys`` as crypto/keys, encrypted under the current kB."""
        self._put("crypto", "keys", keys.encrypt(KeyBundle.from_kb(self._kb()), rng=self._rng))

    def _new_meta(self, engines: Mapping[str, Any], declined: list[str]) -> dict[str, Any]:
        return {
            "syncID": _sync_id(self._rng),
            "storageVersion": STORAGE_VERSION,
            "engines": dict(engines),
            "declined": sorted(declined),
        }

    def _edit_meta(self, edit: Callable[[dict[str, Any]], None]) -> bool:
        meta = self.meta_global()
        if meta is None:
            return False
        meta.setdefault("engines", {})
        meta.setdefault("declined", [])
        edit(meta)
        self.put_meta_global(meta)
        return True

    # -- what another device does ----------------------------------------------------------
    def fresh_start(self) -> None:
        """Wipe storage, upload a new meta/global (new syncIDs) and new crypto/keys."""
        previous = self.meta_global() or {}
        declined = [d for d in previous.get("declined", []) if isinstance(d, str)]
        self._svc.faults.wipe_user(self._fxa_uid())
        engines = {
            name: {"version": 1, "syncID": _sync_id(self._rng)}
            for name in (*self._engines, "clients")
            if name not in declined
        }
        self.put_meta_global(self._new_meta(engines, declined))
        self.put_keys(CollectionKeys.generate(rng=self._rng))

    def rotate_keys(self, engine: str | None) -> None:
        """New crypto/keys: a new default key, or a new key for ``engine`` only. The
        collections whose key changes are deleted first, as a rotating client does."""
        current = self.keys()
        if current is None:
            return
        if engine is None:
            for name in (*self._engines, "clients"):
                self._delete(name)
            self.put_keys(CollectionKeys.generate(current.collections, rng=self._rng))
            return
        self._delete(engine)
        collections = dict(current.collections)
        collections[engine] = KeyBundle.generate(rng=self._rng)
        self.put_keys(CollectionKeys(current.default, collections))

    def change_sync_id(self, engine: str) -> None:
        """Give ``engine`` a new syncID in meta/global and delete its collection (a reset).
        Nothing happens when meta/global does not list the engine."""
        meta = self.meta_global()
        if meta is None or not isinstance((meta.get("engines") or {}).get(engine), dict):
            return

        def edit(meta: dict[str, Any]) -> None:
            meta["engines"][engine]["syncID"] = _sync_id(self._rng)

        if self._edit_meta(edit):
            self._delete(engine)

    def decline(self, engine: str) -> None:
        """Decline ``engine``: out of ``engines``, into ``declined``."""

        def edit(meta: dict[str, Any]) -> None:
            meta["engines"].pop(engine, None)
            if engine not in meta["declined"]:
                meta["declined"].append(engine)

        self._edit_meta(edit)

    def enable(self, engine: str) -> None:
        """Re-enable a declined or absent ``engine`` with a new syncID; its collection starts
        over. An engine that is already enabled is left alone."""
        meta = self.meta_global()
        if meta is None or engine in (meta.get("engines") or {}):
            return

        def edit(meta: dict[str, Any]) -> None:
            meta["declined"] = [d for d in meta["declined"] if d != engine]
            meta["engines"][engine] = {"version": 1, "syncID": _sync_id(self._rng)}

        if self._edit_meta(edit):
            self._delete(engine)

    def declined(self) -> list[str]:
        """The engines meta/global declines (empty when there is no meta/global)."""
        meta = self.meta_global() or {}
        return [d for d in meta.get("declined", []) if isinstance(d, str)]

    def set_storage_version(self, version: int) -> None:
        """Rewrite meta/global with ``storageVersion`` = ``version`` (as another client)."""

        def edit(meta: dict[str, Any]) -> None:
            meta["storageVersion"] = version

        self._edit_meta(edit)

    def storage_version(self) -> int | None:
        """meta/global's storageVersion, None when missing."""
        meta = self.meta_global()
        value = None if meta is None else meta.get("storageVersion")
        return value if isinstance(value, int) else None

    def delete_meta_global(self) -> None:
        """meta/global disappears."""
        self._delete("meta", "global")

    def delete_crypto_keys(self) -> None:
        """crypto/keys disappears."""
        self._delete("crypto", "keys")

    def foreign_keys(self) -> None:
        """Replace crypto/keys with keys encrypted under a root nobody derives from this kB
        (a client with a stale or wrong kB): every device must refuse them, never wipe."""
        if self._get("crypto", "keys") is None:
            return
        root = KeyBundle.generate(rng=self._rng)
        self._put(
            "crypto", "keys", CollectionKeys.generate(rng=self._rng).encrypt(root, rng=self._rng)
        )

    def keys_untrusted(self) -> bool:
        """Whether crypto/keys exists but does not verify under the current kB."""
        return self._get("crypto", "keys") is not None and self.keys() is None

    def bad_hmac(self, engine: str, record: str) -> None:
        """Upload a record encrypted under a key nobody has: its HMAC fails everywhere."""
        payload = encrypt_record(
            KeyBundle.generate(rng=self._rng), {"id": record, "value": "forged"}, rng=self._rng
        )
        self._put(engine, record, payload)

    def edit(self, engine: str, record: str, cleartext: Mapping[str, Any]) -> bool:
        """Upload ``cleartext`` under the current keys; False when there are no keys."""
        keys = self.keys()
        if keys is None:
            return False
        payload = encrypt_record(keys.bundle_for(engine), dict(cleartext), rng=self._rng)
        self._put(engine, record, payload)
        return True

    def records(self, engine: str) -> dict[str, dict[str, Any]]:
        """The live decrypted records of ``engine`` by id (see the module docstring)."""
        keys = self.keys()
        rows = self._rows(engine)
        out: dict[str, dict[str, Any]] = {}
        if keys is None:
            self.undecryptable += len(rows)
            return out
        bundle = keys.bundle_for(engine)
        for bso_id, row in rows.items():
            try:
                record = decrypt_record(bundle, str(row["payload"]))
            except RecordIntegrityError:
                self.undecryptable += 1
                continue
            if not record.get("deleted"):
                out[bso_id] = record
        return out
