"""The fresh start of the session chart (statecharts/session.yaml, state ``fresh_start``).

Contract (docs/seed-note.md: "If meta/global is missing, one must be created based on the user's
datatype elections ... the rest of storage should be wiped prior to uploading a meta/global";
docs/anchors.md §2.3 ``FreshStartRequired`` / ``ServerConfigurationRequired``, §3.2,
§4 item 7; docs/protocol.md §4.8):

* ``wipe_storage`` deletes the whole storage (skipped when this run's info/collections lists
  nothing: there is nothing to wipe), forgets the cached setup and resets every engine;
* ``upload_meta_global`` puts a meta/global built from the configuration kept by the session
  (engines this client does not sync and the declined list survive, with fresh syncIDs:
  docs/anchors.md P1, P13), with X-If-Unmodified-Since: 0;
* ``upload_crypto_keys`` puts new random keys encrypted under kB, X-If-Unmodified-Since: 0.

A 412 on either upload means another device set storage up first: ``conflict``, and the chart
re-enters from the start to adopt what it uploaded. The chart allows one fresh start per run.
"""

from __future__ import annotations

import json

from beacon._crypto import CollectionKeys
from beacon._errors import BeaconError, ConflictError
from beacon.charts import action
from beacon.client._session_service import SessionService
from beacon.client._setup import fresh_meta_global, merge_declined

__all__ = ["FreshStartService"]


class FreshStartService:
    """The fresh-start actions, sharing the session service's storage client and helpers."""

    def __init__(self, session: SessionService) -> None:
        self._session = session

    def __repr__(self) -> str:
        return "FreshStartService()"

    @action("ok", "unauthorized", "backoff", "network_error", "failed")
    def wipe_storage(self) -> str:
        """DELETE all storage (skipped when i/c lists nothing); forget the old setup."""
        run, store = self._session.run, self._session.run.store
        self._session.remember_configuration()
        if run.info:
            try:
                self._session.storage.delete_all()
            except BeaconError as exc:
                return self._session.fail(exc)
        with store.transaction():
            store.set_meta_global(None)
            store.set_crypto_keys(None)
            store.set_global_sync_id(None)
            store.set_info_collections(None)
            self._session.reset_engines()
        run.info = {}
        return "ok"

    @action("ok", "conflict", "unauthorized", "backoff", "network_error", "failed")
    def upload_meta_global(self) -> str:
        """PUT a new meta/global built from the persisted configuration, X-I-U-S: 0."""
        run, store = self._session.run, self._session.run.store
        previous = run.meta_global or self._session.previous_meta
        # No remote list to start from: the persisted one, with the user's changes on top.
        merge = merge_declined(
            None,
            store.declined_engines(),
            user_enabled=run.user_enabled,
            user_disabled=run.user_disabled,
        )
        record = fresh_meta_global(
            previous,
            local_engines=self._session.local_engines,
            declined=merge.declined,
            rng=run.rng,
        )
        try:
            modified = self._session.storage.put_record(
                "meta", "global", json.dumps(record), if_unmodified_since=0.0
            )
        except ConflictError:
            return "conflict"  # another device set storage up first: adopt theirs
        except BeaconError as exc:
            return self._session.fail(exc)
        with store.transaction():
            store.set_meta_global(json.dumps(record), timestamp=modified)
            store.set_global_sync_id(record["syncID"])
            store.set_engine_config(enabled=sorted(record["engines"]), declined=record["declined"])
        run.meta_global = record
        run.user_changes_applied = True
        return "ok"

    @action("ok", "conflict", "unauthorized", "backoff", "network_error", "failed")
    def upload_crypto_keys(self) -> str:
        """PUT new random crypto/keys encrypted under kB, X-I-U-S: 0."""
        run, store = self._session.run, self._session.run.store
        keys = CollectionKeys.generate(rng=run.rng)
        payload = keys.encrypt(run.root, rng=run.rng)
        try:
            modified = self._session.storage.put_record(
                "crypto", "keys", payload, if_unmodified_since=0.0
            )
        except ConflictError:
            return "conflict"
        except BeaconError as exc:
            return self._session.fail(exc)
        store.set_crypto_keys(keys, timestamp=modified, root=run.root)
        return "ok"
