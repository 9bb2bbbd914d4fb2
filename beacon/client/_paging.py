"""Paged downloads of ``GET storage/<collection>`` (docs/protocol.md §3.5).

:class:`Page` is one response; :class:`RecordStream` walks the pages lazily with limit +
offset (``X-Weave-Next-Offset``), so memory is bounded by the page size, and pins every page
after the first to the first page's X-Last-Modified with ``X-If-Unmodified-Since``: a write
by another client between pages is a ConflictError, never a torn snapshot (§3.5, §3.8).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from beacon._errors import ProtocolViolation, UsageError

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    from beacon._models import Bso

__all__ = ["Listing", "Page", "PageSource", "RecordStream", "Sort", "downloaded"]

Sort = Literal["newest", "oldest", "index"]


@dataclass(frozen=True)
class Page:
    """One page of ``GET storage/<collection>``.

    Attributes:
        records: full BSOs (``full=True``), in server order; each has ``modified`` set.
        ids: the ids (``full=False``).
        last_modified: the collection's X-Last-Modified as this request saw it.
        timestamp: X-Weave-Timestamp.
        next_offset: pass back as ``offset`` for the next page; None on the last page.
    """

    records: tuple[Bso, ...] = field(repr=False)
    ids: tuple[str, ...]
    last_modified: float
    timestamp: float
    next_offset: str | None


@dataclass
class Listing:
    """What one paged download has seen, so that a server cannot keep it going for ever.

    A download ends because every page moves forward. A ``X-Weave-Next-Offset`` that this
    download already sent or received (the offset does not advance), a page that names a
    next page but holds no record, or a record listed again (with ``sort`` oldest or newest:
    one out of order, or the same id twice at the same modified time, which a listing pinned
    to one snapshot never does) is a :class:`~beacon.ProtocolViolation` at its first repeat.
    Memory: the offsets (one per page) and the ids sharing the newest modified time.
    """

    sort: Sort | None
    offsets: set[str] = field(default_factory=set)
    edge: float | None = None
    edge_ids: set[str] = field(default_factory=set)

    def take(self, collection: str, page: Page) -> None:
        """Account for the next page of this download."""
        where = f"storage/{collection}"
        if page.next_offset is not None:
            if page.next_offset in self.offsets:
                raise ProtocolViolation(
                    f"{where}: X-Weave-Next-Offset repeats an earlier offset: paging would not end"
                )
            if not page.ids:
                raise ProtocolViolation(f"{where}: an empty page names a next page")
            self.offsets.add(page.next_offset)
        if self.sort not in ("oldest", "newest"):
            return
        for record in page.records:
            modified = record.modified or 0.0
            if self.edge is not None:
                behind = modified < self.edge if self.sort == "oldest" else modified > self.edge
                if behind or (modified == self.edge and record.id in self.edge_ids):
                    raise ProtocolViolation(
                        f"{where}: the listing repeats records or leaves its sort order"
                    )
            if modified != self.edge:
                self.edge, self.edge_ids = modified, set()
            self.edge_ids.add(record.id)


class PageSource(Protocol):
    """What a stream reads pages from (``StorageClient``)."""

    def get_collection(
        self,
        collection: str,
        *,
        newer: float | None = ...,
        older: float | None = ...,
        limit: int | None = ...,
        offset: str | None = ...,
        sort: Sort | None = ...,
        if_unmodified_since: float | None = ...,
    ) -> Page: ...


class RecordStream:
    """A lazy, paged download: iterate for records, or :meth:`pages` for pages.

    No request is sent until iteration starts; the next page is requested only when the
    previous one has been consumed. ``last_modified`` is the collection timestamp of the first
    page (the snapshot every later page is pinned to), None before the first request.
    """

    def __init__(
        self,
        client: PageSource,
        collection: str,
        *,
        newer: float | None,
        older: float | None,
        sort: Sort | None,
        page_size: int,
        if_unmodified_since: float | None,
    ) -> None:
        self._client = client
        self._collection = collection
        self._query = {"newer": newer, "older": older, "sort": sort}
        self._page_size = page_size
        self._pin = if_unmodified_since
        self._started = False
        self.last_modified: float | None = None
        self.pages_fetched = 0

    def __repr__(self) -> str:
        return f"RecordStream({self._collection!r}, pages_fetched={self.pages_fetched})"

    def pages(self) -> Iterator[Page]:
        """The pages, fetched one at a time; a stream can be iterated only once."""
        if self._started:
            raise UsageError("a RecordStream can be iterated only once")
        self._started = True
        offset: str | None = None
        while True:
            page = self._client.get_collection(
                self._collection,
                newer=self._query["newer"],  # type: ignore[arg-type]
                older=self._query["older"],  # type: ignore[arg-type]
                sort=self._query["sort"],  # type: ignore[arg-type]
                limit=self._page_size,
                offset=offset,
                if_unmodified_since=self._pin,
            )
            self.pages_fetched += 1
            if self.last_modified is None:
                self.last_modified = page.last_modified
                # Pin later pages to this snapshot (§3.5, §3.8): a concurrent write → 412.
                self._pin = page.last_modified
            yield page
            if page.next_offset is None:
                return
            offset = page.next_offset

    def __iter__(self) -> Iterator[Bso]:
        for page in self.pages():
            yield from page.records


def downloaded(item: Any, url: str) -> Bso:
    """A listed record: a valid BSO with a server ``modified`` time."""
    if not isinstance(item, dict):
        raise ProtocolViolation(f"{url}: a listed record is not an object")
    from beacon._models import Bso, parse_model  # pydantic, on first use

    bso = parse_model(Bso, item)
    if bso.modified is None:
        raise ProtocolViolation(f"{url}: a listed record has no modified time")
    return bso
