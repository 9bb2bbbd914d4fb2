"""The storage client: the whole Sync 1.5 storage API (docs/protocol.md §3) for one token.

Contract:

1. Every request goes through the shared :class:`~beacon.client._transport.Transport`
   (counted), signed with Hawk from the token's ``id``/``key`` (docs/protocol.md §2).
2. Responses map to beacon errors, the same way on every endpoint (§3.10,
   :mod:`._responses`):

   * 401 → :class:`~beacon.AuthenticationError` (never read as missing data);
   * 409 / 412 → :class:`~beacon.ConflictError`;
   * 503 / 429 → :class:`~beacon.BackoffError` (``until`` from Retry-After or 10 s);
   * 404 → ``None`` where the method says so (one record, DELETEs), else ServerError;
   * other non-2xx → :class:`~beacon.ServerError` with ``status`` and the start of the body;
   * a response without ``X-Weave-Timestamp``, a 2xx without a needed ``X-Last-Modified``,
     bad JSON or a body of the wrong shape → :class:`~beacon.ProtocolViolation`;
   * a last-modified time (header or body) later than the response's X-Weave-Timestamp, or
     an X-Weave-Timestamp far ahead of our clock → ProtocolViolation, before any caller can
     keep it (:mod:`._responses`).

3. Any response that asks for backoff (X-Weave-Backoff, Backoff, Retry-After), success or
   not, is reported to the ``on_backoff(until)`` sink first, so the caller can persist it per
   node (§3.9); the 503/429 error is raised after that.
4. Timestamps are float seconds as the server rendered them (two decimals); they are sent
   back with exactly two decimals (§3.3). Results carry ``last_modified`` (X-Last-Modified)
   and the transport keeps the last :class:`~beacon.client._transport.Response` in
   :attr:`StorageClient.last_response` (X-Weave-Timestamp etc.).
5. Downloads are paged (§3.5): :meth:`StorageClient.get_collection` is one page (one
   request); :meth:`StorageClient.stream_collection` is a lazy iterator that fetches a page
   only when the previous one is consumed, so memory is bounded by the page size. Follow-up
   pages carry ``X-If-Unmodified-Since`` = the first page's X-Last-Modified: a collection that
   changes mid-download raises ConflictError instead of yielding an inconsistent snapshot
   (:mod:`._paging`). A download that does not advance (an offset seen before, an empty page
   naming a next one, a record listed again, more records than ``limit``) is a
   ProtocolViolation at the first repeat (:class:`~beacon.client._paging.Listing`), whoever
   drives the pages.
6. Uploads (:meth:`StorageClient.post_records`) use the batch API (§3.6) within every
   info/configuration limit (§3.7); see :mod:`beacon.client._batch`.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from beacon._errors import ProtocolViolation, UsageError
from beacon._hawk import HawkAuth
from beacon._protocol import COLLECTION, RECORD_ID, format_timestamp
from beacon.client._batch import UploadResult, plan_batches
from beacon.client._paging import Listing, Page, RecordStream, Sort, downloaded
from beacon.client._responses import (
    check_response,
    is_number,
    last_modified,
    none_after_response,
    not_after_response,
    weave_timestamp,
)
from beacon.client._tokenclient import Token
from beacon.client._transport import Response, Transport

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    from pydantic import TypeAdapter

    from beacon._models import Bso, InfoConfiguration

__all__ = [
    "MAX_IDS",
    "InfoCollectionsResult",
    "Page",
    "RecordStream",
    "Sort",
    "StorageClient",
    "UploadResult",
]

#: Most ids one ``ids=`` query may carry (§3.5).
MAX_IDS = 100
_COLLECTION, _BSO_ID = COLLECTION, RECORD_ID  # the protocol's rules (beacon._protocol)

BackoffSink = Callable[[float], None]


class InfoCollectionsResult(NamedTuple):
    """``GET info/collections``: name → last-modified, and the store's X-Last-Modified."""

    collections: dict[str, float]
    last_modified: float


def _check_collection(name: str) -> str:
    if not isinstance(name, str) or not _COLLECTION.match(name):
        raise UsageError(f"not a valid collection name: {name!r}")
    return name


def _check_id(bso_id: str) -> str:
    if not isinstance(bso_id, str) or not _BSO_ID.match(bso_id):
        raise UsageError("not a valid record id")
    return bso_id


class StorageClient:
    """A client for one storage node and user, valid for one token.

    Args:
        transport: the shared transport (its clock also signs Hawk).
        token: the storage token (``api_endpoint`` and Hawk credentials).
        on_backoff: called with ``until`` (epoch seconds) for every response that asks for
            backoff, before any error is raised.
        limits: info/configuration, when already known; otherwise fetched once on the first
            upload (one request).
    """

    def __init__(
        self,
        transport: Transport,
        token: Token,
        *,
        on_backoff: BackoffSink | None = None,
        limits: InfoConfiguration | None = None,
    ) -> None:
        self._transport = transport
        self.token = token
        self._base = token.api_endpoint.rstrip("/")
        clock, offset = transport.clock, token.server_offset
        # Hawk timestamps on the server's clock (see Token.server_offset, docs/protocol.md §2.4).
        self._auth = HawkAuth(token.id, token.key, clock=lambda: clock() + offset)
        self._on_backoff = on_backoff
        self._limits = limits
        self.last_response: Response | None = None
        # Paged downloads under way, per collection: what they have seen (see Listing).
        self._listings: dict[str, Listing] = {}

    def __repr__(self) -> str:
        return f"StorageClient({self._base!r})"

    @property
    def api_endpoint(self) -> str:
        """The storage root ``<node>/1.5/<uid>``."""
        return self._base

    # -- the exchange ---------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        ok: Sequence[int] = (200,),
    ) -> Response:
        """One signed request; errors mapped as the module docstring says."""
        url = f"{self._base}/{path}" if path else self._base
        response = self._transport.request(
            method, url, params=params, headers=headers, content=content, auth=self._auth
        )
        self.last_response = response
        if response.backoff_until is not None and self._on_backoff is not None:
            self._on_backoff(response.backoff_until)
        return check_response(response, ok, clock_offset=self.token.server_offset)

    # -- info/* (§3.4) -------------------------------------------------------------------------

    def info_collections(
        self, *, if_modified_since: float | None = None
    ) -> InfoCollectionsResult | None:
        """``GET info/collections``; ``None`` on 304 (nothing changed since the given time)."""
        headers = (
            {"X-If-Modified-Since": format_timestamp(if_modified_since)}
            if if_modified_since is not None
            else None
        )
        response = self._send("GET", "info/collections", headers=headers, ok=(200, 304))
        if response.status == 304:
            return None
        from beacon._models import InfoCollections, parse_model  # pydantic, on first use

        body = parse_model(InfoCollections, response.content)
        none_after_response(body.root.values(), response, "a collection's timestamp")
        return InfoCollectionsResult(dict(body.root), last_modified(response))

    def info_configuration(self) -> InfoConfiguration:
        """``GET info/configuration`` (limits, §3.7); a 404 (older servers) means defaults.
        The result is also kept for :meth:`post_records`."""
        from beacon._models import InfoConfiguration, parse_model  # pydantic, on first use

        response = self._send("GET", "info/configuration", ok=(200, 404))
        limits = (
            InfoConfiguration()
            if response.status == 404
            else parse_model(InfoConfiguration, response.content)
        )
        self._limits = limits
        return limits

    def info_quota(self) -> tuple[float, float | None]:
        """``GET info/quota``: (KB used, quota in KB or None)."""
        body = self._send("GET", "info/quota").json()
        if (
            not isinstance(body, list)
            or len(body) != 2
            or not is_number(body[0])
            or not (body[1] is None or is_number(body[1]))
        ):
            raise ProtocolViolation("info/quota is not [used, quota]")
        return float(body[0]), None if body[1] is None else float(body[1])

    def collection_usage(self) -> dict[str, float]:
        """``GET info/collection_usage``: name → KB."""
        body = _number_map(self._send("GET", "info/collection_usage").json(), "usage")
        return {k: float(v) for k, v in body.items()}

    def collection_counts(self) -> dict[str, int]:
        """``GET info/collection_counts``: name → number of records."""
        body = _number_map(self._send("GET", "info/collection_counts").json(), "counts")
        if not all(float(v).is_integer() for v in body.values()):
            raise ProtocolViolation("info/collection_counts holds non-integers")
        return {k: int(v) for k, v in body.items()}

    # -- one record (§3.4) -------------------------------------------------------------------------

    def get_record(self, collection: str, bso_id: str) -> Bso | None:
        """``GET storage/<collection>/<id>``; ``None`` on 404."""
        path = f"storage/{_check_collection(collection)}/{quote(_check_id(bso_id), safe='')}"
        response = self._send("GET", path, ok=(200, 404))
        if response.status == 404:
            return None
        from beacon._models import Bso, parse_model  # pydantic, on first use

        bso = parse_model(Bso, response.content)
        if bso.modified is None or bso.id != bso_id:
            raise ProtocolViolation(f"{response.url}: the record has no modified time or wrong id")
        not_after_response(bso.modified, response, "the record's modified time")
        return bso

    def put_record(
        self,
        collection: str,
        bso_id: str,
        payload: str,
        *,
        sortindex: int | None = None,
        ttl: int | None = None,
        if_unmodified_since: float | None = None,
    ) -> float:
        """``PUT storage/<collection>/<id>``; returns the new timestamp (X-Last-Modified).

        ``if_unmodified_since=0`` means "only if absent" (§3.8); a lost race is ConflictError.
        """
        path = f"storage/{_check_collection(collection)}/{quote(_check_id(bso_id), safe='')}"
        bso = _bso({"id": bso_id, "payload": payload, "sortindex": sortindex, "ttl": ttl})
        headers = {"Content-Type": "application/json"}
        if if_unmodified_since is not None:
            headers["X-If-Unmodified-Since"] = format_timestamp(if_unmodified_since)
        body = json.dumps(_wire(bso), separators=(",", ":")).encode("utf-8")
        response = self._send("PUT", path, headers=headers, content=body)
        return last_modified(response)

    def delete_record(
        self, collection: str, bso_id: str, *, if_unmodified_since: float | None = None
    ) -> float | None:
        """``DELETE storage/<collection>/<id>``; the new timestamp, or None on 404."""
        path = f"storage/{_check_collection(collection)}/{quote(_check_id(bso_id), safe='')}"
        response = self._send("DELETE", path, headers=_iuus(if_unmodified_since), ok=(200, 404))
        return None if response.status == 404 else _written(response)

    # -- collections (§3.4-§3.5) ---------------------------------------------------------------

    def get_collection(
        self,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        newer: float | None = None,
        older: float | None = None,
        full: bool = True,
        limit: int | None = None,
        offset: str | None = None,
        sort: Sort | None = None,
        if_unmodified_since: float | None = None,
    ) -> Page:
        """One page of ``GET storage/<collection>`` (one request).

        Pass the previous page's ``next_offset`` as ``offset`` and its ``last_modified`` as
        ``if_unmodified_since`` to read a consistent snapshot page by page (§3.5).
        """
        params: dict[str, str] = {}
        if ids is not None:
            checked = [_check_id(i) for i in ids]
            if len(checked) > MAX_IDS or any("," in i for i in checked):
                raise UsageError(f"ids: at most {MAX_IDS}, none containing ','")
            params["ids"] = ",".join(checked)
        if newer is not None:
            params["newer"] = format_timestamp(newer)
        if older is not None:
            params["older"] = format_timestamp(older)
        if full:
            params["full"] = "1"
        if limit is not None:
            if limit <= 0:
                raise UsageError("limit must be positive")
            params["limit"] = str(int(limit))
        if offset is not None:
            params["offset"] = offset  # opaque; httpx URL-encodes it (§3.5)
        if sort is not None:
            if sort not in ("newest", "oldest", "index"):
                raise UsageError(f"sort must be newest, oldest or index, not {sort!r}")
            params["sort"] = sort
        response = self._send(
            "GET",
            f"storage/{_check_collection(collection)}",
            params=params,
            headers=_iuus(if_unmodified_since),
        )
        if full:
            records = _full_listing(response)
            found_ids = tuple(r.id for r in records)
            modified = (record.modified or 0.0 for record in records)
            none_after_response(modified, response, "a record's modified time")
        else:
            body = response.json()
            if not isinstance(body, list):
                raise ProtocolViolation(f"{response.url}: the collection listing is not a list")
            if not all(isinstance(i, str) for i in body):
                raise ProtocolViolation(f"{response.url}: the id listing holds non-strings")
            records, found_ids = (), tuple(body)
        page = Page(
            records=records,
            ids=found_ids,
            last_modified=last_modified(response),
            timestamp=weave_timestamp(response),
            next_offset=response.header("X-Weave-Next-Offset") or None,
        )
        self._check_progress(collection, page, offset=offset, limit=limit, sort=sort)
        return page

    def _check_progress(
        self,
        collection: str,
        page: Page,
        *,
        offset: str | None,
        limit: int | None,
        sort: Sort | None,
    ) -> None:
        """A paged download must end (§3.5): see :class:`~beacon.client._paging.Listing`."""
        if limit is not None and len(page.ids) > limit:
            raise ProtocolViolation(
                f"storage/{collection}: a page holds more records than the limit asked for"
            )
        listing = self._listings.get(collection) if offset is not None else None
        if listing is None:
            listing = Listing(sort=sort, offsets={offset} if offset is not None else set())
        self._listings.pop(collection, None)
        listing.take(collection, page)  # raises ProtocolViolation when the paging runs in circles
        if page.next_offset is not None:
            self._listings[collection] = listing

    def stream_collection(
        self,
        collection: str,
        *,
        newer: float | None = None,
        older: float | None = None,
        sort: Sort | None = "oldest",
        page_size: int = 1000,
        if_unmodified_since: float | None = None,
    ) -> RecordStream:
        """A lazy, paged download of full records (no request until iterated)."""
        _check_collection(collection)
        if page_size <= 0:
            raise UsageError("page_size must be positive")
        return RecordStream(
            self,
            collection,
            newer=newer,
            older=older,
            sort=sort,
            page_size=page_size,
            if_unmodified_since=if_unmodified_since,
        )

    def post_records(
        self,
        collection: str,
        records: Iterable[Bso | Mapping[str, Any]],
        *,
        if_unmodified_since: float | None = None,
        limits: InfoConfiguration | None = None,
    ) -> UploadResult:
        """Upload records with the batch API (§3.6) within the limits (§3.7).

        ``records`` are BSOs or mappings with ``id``, ``payload`` and optionally
        ``sortindex`` / ``ttl``. Every POST carries ``X-If-Unmodified-Since`` (the given
        value, then each commit's new timestamp when the upload needs several batches).
        Without ``limits``, info/configuration is fetched once (and kept).

        Returns per-record ``success`` / ``failed`` (with the server's reason, or
        ``"too large"`` for a record no POST could carry, or ``"not acknowledged"``), and
        ``modified``: the collection's timestamp after the last commit (the given
        ``if_unmodified_since``, or 0.0, when nothing was sent).

        Raises:
            ConflictError: X-If-Unmodified-Since failed (412); nothing of the current batch
                was committed.
        """
        path = f"storage/{_check_collection(collection)}"
        bsos = [_bso(r) for r in records]
        if limits is None:
            limits = self._limits if self._limits is not None else self.info_configuration()
        return plan_batches(bsos, limits).run(
            lambda params, headers, content: self._send(
                "POST", path, params=params, headers=headers, content=content, ok=(200, 202)
            ),
            if_unmodified_since=if_unmodified_since,
        )

    def delete_collection(
        self,
        collection: str,
        *,
        ids: Sequence[str] | None = None,
        if_unmodified_since: float | None = None,
    ) -> float | None:
        """``DELETE storage/<collection>`` (or only ``ids``); the new timestamp, None on 404."""
        params = None
        if ids is not None:
            checked = [_check_id(i) for i in ids]
            if not checked or len(checked) > MAX_IDS or any("," in i for i in checked):
                raise UsageError(f"ids: 1 to {MAX_IDS}, none containing ','")
            params = {"ids": ",".join(checked)}
        response = self._send(
            "DELETE",
            f"storage/{_check_collection(collection)}",
            params=params,
            headers=_iuus(if_unmodified_since),
            ok=(200, 404),
        )
        return None if response.status == 404 else _written(response)

    def delete_all(self) -> float | None:
        """``DELETE`` the user's whole storage (the api_endpoint root, as a-s does, §3.4);
        the server's timestamp, or None on 404."""
        response = self._send("DELETE", "", ok=(200, 204, 404))
        return None if response.status == 404 else _written(response)


@functools.cache
def _listing() -> TypeAdapter[list[Bso]]:
    """A full listing read straight from the body's bytes into BSOs (the body decoded once);
    built on the first download, as the models are (a no-change sync needs neither)."""
    from pydantic import TypeAdapter

    from beacon._models import Bso

    return TypeAdapter(list[Bso])


def _full_listing(response: Response) -> tuple[Bso, ...]:
    """The BSOs of a ``full`` listing.

    A listing that fits ``list[Bso]`` and gives every record a ``modified`` time is a list of
    flat objects of bounded strings and numbers, which :mod:`beacon._parse` accepts as is:
    it is read in one pass. Anything else takes the careful path, whose errors say what is
    wrong (not a list, a record not an object, not a BSO, no modified time).
    """
    try:
        bsos = _listing().validate_json(response.content, by_alias=True, by_name=False)
    except ValueError:  # pydantic's ValidationError, whatever made the body unfit
        bsos = None
    if bsos is not None and all(bso.modified is not None for bso in bsos):
        return tuple(bsos)
    body = response.json()
    if not isinstance(body, list):
        raise ProtocolViolation(f"{response.url}: the collection listing is not a list")
    return tuple(downloaded(item, response.url) for item in body)


def _written(response: Response) -> float:
    """A write's new timestamp: X-Last-Modified (not later than X-Weave-Timestamp), else
    X-Weave-Timestamp (§3.4, §3.9; DELETE bodies differ between servers and are ignored)."""
    if response.header("X-Last-Modified") is not None:
        return last_modified(response)
    return weave_timestamp(response)


def _iuus(value: float | None) -> dict[str, str] | None:
    return None if value is None else {"X-If-Unmodified-Since": format_timestamp(value)}


def _number_map(body: Any, what: str) -> dict[str, float | int]:
    if not isinstance(body, dict) or not all(
        isinstance(k, str) and is_number(v) for k, v in body.items()
    ):
        raise ProtocolViolation(f"info/collection_{what} is not an object of numbers")
    return dict(body)


def _bso(record: Bso | Mapping[str, Any]) -> Bso:
    """A caller's record as a Bso; a bad one is the caller's fault (UsageError)."""
    from beacon._models import Bso, parse_model  # pydantic, on first use

    if isinstance(record, Bso):
        return record
    if not isinstance(record, Mapping):
        raise UsageError("a record to upload is a Bso or a mapping")
    fields = {k: v for k, v in record.items() if v is not None}
    try:
        return parse_model(Bso, fields)
    except ProtocolViolation as exc:
        raise UsageError(f"not a valid record to upload: {exc}") from None


def _wire(bso: Bso) -> dict[str, Any]:
    """The JSON object sent for a BSO: id, payload, sortindex, ttl (never modified)."""
    return bso.model_dump(exclude_none=True, exclude={"modified", "collection"})
