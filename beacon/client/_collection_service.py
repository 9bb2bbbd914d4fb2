"""The collection chart's service (statecharts/collection.yaml): one engine in one run.

Contract (docs/anchors.md §3.4 ``LocalCollStateMachine``, §2.5 Synchronizer, §4 item 11;
docs/protocol.md §3.5, §3.6, §4.2; docs/seed-note.md, Persistence):

* ``check_association`` reads only: declined in meta/global → ``declined``; no ``engines``
  entry → ``not_in_meta_global``; a persisted syncID that differs from meta/global's (or none,
  after a reset) → ``sync_id_changed``; ``reset_engine`` then adopts the new syncID, which drops
  the last-fetch time (docs/seed-note.md: "If the syncID changes, we need to throw away the
  timestamp").
* ``download_page`` sends nothing when i/c says the collection has not changed since the last
  fetch; otherwise one ``GET storage/<c>?full&newer=<last fetch>&sort=oldest&limit=<page>`` per
  entry, following X-Weave-Next-Offset. Records are verified and decrypted with the collection's
  bundle, and applied page by page: memory is bounded by the page size. A record that fails
  verification is counted and reported by id, never applied.
* ``advance_last_fetch`` moves the last-fetch time to the collection's X-Last-Modified seen on
  the first page, only after every page is applied: a crash in between means a refetch of
  already-applied records (the engine's apply is idempotent), never a gap.
* A record that fails verification is counted, reported by id and kept in the store's failed
  ids; ``refetch_failed`` asks for those by id on every later run until they verify (or are
  gone), so one damaged download does not hide the intact copy behind the last-fetch mark.
* ``upload_changes`` encrypts the engine's outgoing records and posts them with the batch API
  within info/configuration's limits, with X-If-Unmodified-Since = the last-fetch time. A 412
  is ``conflict``: the chart downloads again and retries once. Per-record failures stay
  outgoing and are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from beacon._crypto import decrypt_record, encrypt_record
from beacon._errors import BeaconError, ConflictError, RecordIntegrityError
from beacon.charts import Outcome, action, outcome
from beacon.client._collection_rules import (
    association,
    chunks,
    download_needed,
    meta_entry,
    outgoing_fields,
    refetch_plan,
)
from beacon.client._engines import Engine, IncomingRecord, OutgoingRecord
from beacon.client._run import Run, failure
from beacon.client._storage import MAX_IDS, StorageClient

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    from beacon._models import Bso

__all__ = ["PAGE_SIZE", "CollectionService"]

#: Records per download page (``limit``); bounds the memory a download holds. Desktop
#: Firefox downloads 1,000 at a time (``DEFAULT_DOWNLOAD_BATCH_SIZE`` in
#: services/sync/modules/engines.sys.mjs); each page is one store transaction, whose commit
#: (a disk sync) cost as much as decrypting 400 records at 500 per page.
PAGE_SIZE = 1000
#: Outgoing records read, encrypted and sent per upload page (engines with
#: ``outgoing_pages``); bounds the memory an upload holds.
UPLOAD_PAGE = 1000


class CollectionService:
    """Actions of the collection chart for one engine.

    Args:
        run: the run's working set (meta/global, keys and i/c are already there: Ready).
        engine: the engine whose collection this is.
        storage: the storage client of the current token.
        page_size: records per download page.
    """

    def __init__(
        self, run: Run, engine: Engine, storage: StorageClient, *, page_size: int | None = None
    ) -> None:
        self._run = run
        self._engine = engine
        self._storage = storage
        self._page_size = page_size if page_size is not None else PAGE_SIZE
        self._counts = run.counts(engine.name)
        self._offset: str | None = None
        self._high_water: float | None = None
        self._refetch = False  # after a 412: download even if i/c looked unchanged
        # An engine of a small collection (clients) may read it whole whenever it changed and
        # be told every id the server holds (``server_holds``); None for the others.
        self._whole = getattr(engine, "server_holds", None)
        self._seen: set[str] | None = None

    def __repr__(self) -> str:
        return f"CollectionService({self._engine.name!r})"

    @property
    def _name(self) -> str:
        return self._engine.name

    def _fail(self, exc: BeaconError) -> Outcome:
        return failure(self._run, exc, backoff_key=self._run.node)

    # -- association -------------------------------------------------------------------------

    @action("connected", "declined", "not_in_meta_global", "version_too_new", "sync_id_changed")
    def check_association(self) -> str:
        """Compare the engine's persisted syncID with meta/global (docs/anchors.md §3.4)."""
        state = self._run.store.collection_state(self._name)
        return association(
            self._run.meta_global, self._name, version=self._engine.version, sync_id=state.sync_id
        )

    @action("ok")
    def reset_engine(self) -> str:
        """Adopt meta/global's syncID for the collection and reset the engine."""
        entry = meta_entry(self._run.meta_global, self._name)
        sync_id = entry.get("syncID") if entry is not None else None
        if not isinstance(sync_id, str):  # pragma: no cover - association said it exists
            raise RuntimeError("reset_engine without a syncID")
        with self._run.store.transaction():
            self._run.store.reset_collection(self._name)
            self._run.store.set_collection_sync_id(self._name, sync_id)
            self._engine.reset()
        self._counts.reset = True
        return "ok"

    # -- download ------------------------------------------------------------------------------

    @action("more", "done", "changed", "unauthorized", "backoff", "network_error", "failed")
    def download_page(self) -> str:
        """Fetch, verify, decrypt and apply one page of records newer than the last fetch."""
        run = self._run
        last = run.store.collection_state(self._name).last_fetch or 0.0
        remote = (run.info or {}).get(self._name)
        first = self._offset is None
        if not download_needed(first_page=first, refetch=self._refetch, remote=remote, last=last):
            if remote is None and self._whole is not None:
                self._seen = set()  # the server lists no such collection: it holds nothing
            return "done"  # i/c says nothing new: no request (request economy)
        if first and self._whole is not None:
            self._seen = set()  # a small collection read whole, to see what is missing too
        try:
            page = self._storage.get_collection(
                self._name,
                newer=None if self._whole is not None else last,
                limit=self._page_size,
                offset=self._offset,
                sort="oldest",
                # Later pages are pinned to the first page's snapshot (docs/protocol.md §3.5, §3.8).
                if_unmodified_since=None if first else self._high_water,
            )
        except ConflictError as exc:
            # The collection changed between pages: the chart starts the download over (what
            # was applied stays applied; apply is idempotent) a bounded number of times.
            self._offset, self._high_water, self._refetch = None, None, True
            return outcome("changed", exc)
        except BeaconError as exc:
            return self._fail(exc)
        self._refetch = False
        if self._high_water is None:
            self._high_water = page.last_modified
        incoming, failed = self._verify(page.records)
        if self._seen is not None:
            self._seen.update(bso.id for bso in page.records)
        with run.store.transaction():
            applied = self._engine.apply_incoming(incoming)
            if failed:  # fetched again by id next time, even once the mark is past them
                store = run.store
                store.set_failed_ids(self._name, [*store.failed_ids(self._name), *failed])
        self._counts.applied += applied.applied
        self._counts.failed += applied.failed
        self._offset = page.next_offset
        return "more" if self._offset is not None else "done"

    def _verify(self, records: Sequence[Bso]) -> tuple[list[IncomingRecord], list[str]]:
        """The records that verify and decrypt, and the ids of those that do not."""
        keys = self._run.keys
        if keys is None:  # pragma: no cover - Ready implies keys
            raise RuntimeError("download without collection keys")
        bundle = keys.bundle_for(self._name)
        incoming: list[IncomingRecord] = []
        failed: list[str] = []
        for bso in records:
            self._counts.downloaded += 1
            try:
                cleartext = decrypt_record(bundle, bso.payload, bso_id=bso.id)
            except RecordIntegrityError:
                self._counts.failed += 1
                self._counts.failed_ids.append(bso.id)
                failed.append(bso.id)
                continue
            modified = bso.modified or 0.0
            incoming.append(IncomingRecord(id=bso.id, cleartext=cleartext, modified=modified))
        return incoming, failed

    @action("ok", "unauthorized", "backoff", "network_error", "failed")
    def refetch_failed(self) -> str:
        """Fetch again, by id, the records that failed verification in earlier downloads.

        An id that now verifies is applied and forgotten; one that fails again, or is gone from
        the server, is kept or dropped accordingly. No request when there are none.
        """
        store = self._run.store
        known = store.failed_ids(self._name)
        pending, still = refetch_plan(known, set(self._counts.failed_ids))
        if not pending:
            return "ok"
        for chunk in chunks(pending, MAX_IDS):
            try:
                page = self._storage.get_collection(self._name, ids=chunk, full=True)
            except BeaconError as exc:
                return self._fail(exc)
            incoming, failed = self._verify(page.records)
            with store.transaction():
                applied = self._engine.apply_incoming(incoming)
            self._counts.applied += applied.applied
            self._counts.failed += applied.failed
            still.update(failed)
        with store.transaction():
            store.set_failed_ids(self._name, still)
        return "ok"

    @action("ok")
    def advance_last_fetch(self) -> str:
        """Every page is applied: the last-fetch time may move now (and only now)."""
        if self._seen is not None and self._whole is not None:
            with self._run.store.transaction():
                self._whole(frozenset(self._seen))  # e.g. our client record is gone: upload it
            self._seen = None
        if self._high_water is not None:
            self._run.store.set_last_fetch(self._name, self._high_water)
        self._high_water = None
        return "ok"

    # -- upload ---------------------------------------------------------------------------------

    @action("ok", "conflict", "unauthorized", "backoff", "network_error", "failed")
    def upload_changes(self) -> str:
        """Encrypt and post the outgoing records in batches, X-If-Unmodified-Since = last fetch.

        An engine that offers ``outgoing_pages(size)`` (the store's engines) is uploaded a page
        of :data:`UPLOAD_PAGE` records at a time: each page is planned, sent and committed as
        its own batches and marked uploaded before the next is read, so memory holds one page
        whatever the number of changes; each commit's timestamp guards the next page's POSTs.
        """
        pages = getattr(self._engine, "outgoing_pages", None)
        if callable(pages):
            for page in pages(UPLOAD_PAGE):
                done = self._upload(page)
                if done != "ok":
                    return done
            return "ok"
        return self._upload(self._engine.outgoing())

    def _upload(self, outgoing: Sequence[OutgoingRecord]) -> str:
        """Upload one page of outgoing records and mark what the server stored."""
        run = self._run
        if not outgoing:
            return "ok"
        keys = run.keys
        if keys is None:  # pragma: no cover - Ready implies keys
            raise RuntimeError("upload without collection keys")
        bundle = keys.bundle_for(self._name)
        last = run.store.collection_state(self._name).last_fetch or 0.0
        bsos = [
            {
                "id": record.id,
                "payload": encrypt_record(
                    bundle, {**record.cleartext, "id": record.id}, rng=run.rng
                ),
                **outgoing_fields(record.sortindex, record.ttl),
            }
            for record in outgoing
        ]
        try:
            node = self._run.node or ""
            if node not in run.limits:  # one request per node and client, on the first upload
                run.limits[node] = self._storage.info_configuration()
            result = self._storage.post_records(
                self._name, bsos, if_unmodified_since=last, limits=run.limits[node]
            )
        except ConflictError as exc:
            self._offset, self._refetch = None, True
            return outcome("conflict", exc)
        except BeaconError as exc:
            return self._fail(exc)
        with run.store.transaction():
            self._engine.mark_uploaded(result.success, result.modified)
            run.store.set_last_fetch(self._name, result.modified)
        self._counts.uploaded += len(result.success)
        self._counts.failed += len(result.failed)
        self._counts.failed_ids.extend(sorted(result.failed))
        return "ok"
