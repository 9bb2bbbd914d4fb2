"""Storage-node HTTP layer: routing, authentication, preconditions and the read endpoints.

Contract:

* Routes live under ``/node/<n>/1.5/<uid>`` (``n`` in ``1..nodes``, both 1-10 ASCII digits as
  rs routes them, else 404 ``0``). After the node
  check and the body-size limit (413 without reading past ``max_request_bytes``), every request
  is Hawk-authenticated (``_auth``) before anything else happens; ``GET info/collections``
  alone accepts an expired token (§2.4 item 3).
* Every response carries ``X-Weave-Timestamp`` = max(now, X-Last-Modified) (§3.9); every 2xx,
  304 and 412 carries ``X-Last-Modified``; errors have a bare-integer body (§3.10); a 304 has
  no body and no representation headers (no ``Content-Type``, no ``Content-Length``).
* Preconditions (§3.8): ``X-If-Modified-Since`` (GET only) → 304 when the target's
  last-modified ≤ the value; ``X-If-Unmodified-Since`` → 412 when it is greater; both, or an
  unparsable or negative value → 400. The target is the BSO, the collection or the store.
* Reads (§3.4, §3.5): info/collections, info/quota, info/collection_usage,
  info/collection_counts, info/configuration, ``GET storage/<c>`` (ids, newer, older, full,
  limit, offset, sort; JSON or ``application/newlines`` by ``Accept``, else 406) and
  ``GET storage/<c>/<id>``. Writes are in ``_writes``.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from beacon.server import _store
from beacon.server._auth import RequestFacts, StorageUser, split_host
from beacon.server._bso import valid_collection, valid_id
from beacon.server._core import Core
from beacon.server._wire import (
    RESP_INVALID_BSO,
    RESP_INVALID_COLLECTION,
    RESP_SIZE_LIMIT,
    StorageHTTPError,
    Ts,
    dumps,
    now_ms,
    parse_ts,
    quote,
    render_ts,
)

MAX_IDS = 100
_SORTS = frozenset({"newest", "oldest", "index"})


@dataclass
class NodeRequest:
    """One authenticated storage request. ``headers`` maps lower-case names to the first
    value sent; ``query`` is parsed on first use (most requests have none)."""

    core: Core
    user: StorageUser
    method: str
    query_string: bytes
    headers: Mapping[str, str]
    body: bytes
    collection: str | None
    bso_id: str | None
    now: int  # ms

    @property
    def node(self) -> int:
        return self.user.node

    @property
    def uid(self) -> int:
        return self.user.uid

    @cached_property
    def query(self) -> QueryParams:
        return QueryParams(self.query_string)


@dataclass
class Reply:
    """What a handler answers; the wrapper adds the timestamp headers."""

    status: int
    body: str | bytes
    last_modified: int | None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "application/json"


Handler = Callable[[NodeRequest], Reply]


def check_preconditions(ctx: NodeRequest, target: int) -> None:
    """X-If-Modified-Since / X-If-Unmodified-Since against ``target`` (§3.8)."""
    modified_since = ctx.headers.get("x-if-modified-since")
    unmodified_since = ctx.headers.get("x-if-unmodified-since")
    if modified_since is not None and unmodified_since is not None:
        raise StorageHTTPError(400, 0)
    if modified_since is not None:
        value = parse_ts(modified_since)
        if ctx.method in ("GET", "HEAD") and target <= value:
            raise StorageHTTPError(304, 0, last_modified=target)
    if unmodified_since is not None:
        value = parse_ts(unmodified_since)
        if target > value:
            raise StorageHTTPError(412, 0, last_modified=target)


def parse_ids(value: str | None) -> list[str] | None:
    """The ``ids`` parameter: comma-separated, trimmed, at most 100 valid ids (§3.5)."""
    if value is None:
        return None
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if len(ids) > MAX_IDS or not all(valid_id(i) for i in ids):
        raise StorageHTTPError(400, 0)
    return ids


def _non_negative_int(value: str | None, *, positive: bool = False) -> int | None:
    if value is None:
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise StorageHTTPError(400, 0)
    number = int(text)
    if positive and number == 0:
        raise StorageHTTPError(400, 0)
    return number


def output_format(accept: str | None) -> str:
    """``json`` or ``newlines`` from ``Accept`` (§3.5); 406 for anything else."""
    if not accept or not accept.strip():
        return "json"
    for part in accept.split(","):
        media = part.split(";", 1)[0].strip().lower()
        if media in ("application/json", "*/*", "application/*"):
            return "json"
        if media == "application/newlines":
            return "newlines"
    raise StorageHTTPError(406, 0)


# -- read endpoints ---------------------------------------------------------------------------


def info_collections(ctx: NodeRequest) -> Reply:
    with ctx.core.db.reading() as conn:
        store = _store.store_modified(conn, ctx.node, ctx.uid)
        check_preconditions(ctx, store)
        names = _store.info_collections(conn, ctx.node, ctx.uid)
    body = dumps({name: Ts(ts) for name, ts in names.items()})
    return Reply(200, body, store, {"X-Weave-Records": str(len(names))})


def info_quota(ctx: NodeRequest) -> Reply:
    with ctx.core.db.reading() as conn:
        store = _store.store_modified(conn, ctx.node, ctx.uid)
        check_preconditions(ctx, store)
        used = _store.used_bytes(conn, ctx.node, ctx.uid, ctx.now)
    quota = ctx.core.quota_bytes
    return Reply(200, dumps([used / 1024, None if quota is None else quota / 1024]), store)


def info_collection_usage(ctx: NodeRequest) -> Reply:
    with ctx.core.db.reading() as conn:
        store = _store.store_modified(conn, ctx.node, ctx.uid)
        check_preconditions(ctx, store)
        usage = _store.collection_usage(conn, ctx.node, ctx.uid, ctx.now)
    return Reply(200, dumps({name: size / 1024 for name, size in usage.items()}), store)


def info_collection_counts(ctx: NodeRequest) -> Reply:
    with ctx.core.db.reading() as conn:
        store = _store.store_modified(conn, ctx.node, ctx.uid)
        check_preconditions(ctx, store)
        counts = _store.collection_counts(conn, ctx.node, ctx.uid, ctx.now)
    return Reply(200, dumps(counts), store, {"X-Weave-Records": str(len(counts))})


def info_configuration(ctx: NodeRequest) -> Reply:
    # rs sends X-Last-Modified 0.00 here (§3.4): the limits do not change per user.
    check_preconditions(ctx, 0)
    limits: dict[str, int] = ctx.core.limits.as_json()
    if ctx.core.quota_bytes is not None:
        limits["max_quota_limit"] = ctx.core.quota_bytes  # rs names the per-user quota so
    return Reply(200, dumps(limits), 0)


def get_collection(ctx: NodeRequest) -> Reply:
    assert ctx.collection is not None
    query = ctx.query
    ids = parse_ids(query.get("ids"))
    newer = None if query.get("newer") is None else parse_ts(query["newer"])
    older = None if query.get("older") is None else parse_ts(query["older"])
    limit = _non_negative_int(query.get("limit"), positive=True)
    sort = query.get("sort")
    if sort is not None and sort not in _SORTS:
        raise StorageHTTPError(400, 0)
    offset = _store.parse_offset(query.get("offset"), sort)
    if offset is None:
        raise StorageHTTPError(400, 0)
    full = "full" in query
    fmt = output_format(ctx.headers.get("accept"))
    listing = _store.Query(ids, newer, older, sort, limit, offset)
    with ctx.core.db.reading() as conn:
        modified = _store.collection_modified(conn, ctx.node, ctx.uid, ctx.collection)
        check_preconditions(ctx, modified)
        if full:  # stored wire forms: the page is joined, not rendered (``_store``)
            items, next_offset = _store.list_wire(
                conn, ctx.node, ctx.uid, ctx.collection, ctx.now, listing
            )
        else:
            ids_found, next_offset = _store.list_ids(
                conn, ctx.node, ctx.uid, ctx.collection, ctx.now, listing
            )
            items = [quote(i).encode("ascii") for i in ids_found]
    headers = {"X-Weave-Records": str(len(items))}
    if next_offset is not None:
        headers["X-Weave-Next-Offset"] = next_offset
    if fmt == "newlines":
        items.append(b"")
        return Reply(200, b"\n".join(items), modified, headers, media_type="application/newlines")
    return Reply(200, _json_array(items), modified, headers)


def _json_array(items: list[bytes]) -> bytes:
    """``[a,b,...]`` in one copy of the page (``b"[" + ... + b"]"`` would copy ~0.5 MB twice)."""
    if not items:
        return b"[]"
    items[0] = b"[" + items[0]
    items[-1] += b"]"
    return b",".join(items)


def get_item(ctx: NodeRequest) -> Reply:
    assert ctx.collection is not None
    assert ctx.bso_id is not None
    with ctx.core.db.reading() as conn:
        row = _store.get_bso(conn, ctx.node, ctx.uid, ctx.collection, ctx.bso_id, ctx.now)
    if row is None:
        raise StorageHTTPError(404, 0)
    check_preconditions(ctx, row.modified)
    return Reply(200, row.wire, row.modified)


# -- the wrapper ------------------------------------------------------------------------------


async def _read_body(request: Request, headers: Mapping[str, str], limit: int) -> bytes:
    """The request body, or 413 once it exceeds ``max_request_bytes`` (§3.6)."""
    declared = (headers.get("content-length") or "").strip()
    if declared.isascii() and declared.isdigit() and exceeds(declared, limit):
        raise StorageHTTPError(413, RESP_SIZE_LIMIT)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise StorageHTTPError(413, RESP_SIZE_LIMIT)
        chunks.append(chunk)
    return b"".join(chunks)


def exceeds(digits: str, limit: int) -> bool:
    """Whether ASCII ``digits`` name a number above ``limit``, without converting thousands
    of digits (``int`` refuses more than 4,300 of them)."""
    significant = digits.lstrip("0")
    return len(significant) > len(str(limit)) or int(significant or "0") > limit


def path_number(text: str) -> int:
    """A node or uid path segment: 1-10 ASCII digits (rs: ``[0-9]{1,10}``), else 404 ``0``."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10):
        raise StorageHTTPError(404, 0)
    return int(text)


def render(reply: Reply, now: int) -> Response:
    headers = dict(reply.headers)
    stamp = now if reply.last_modified is None else max(now, reply.last_modified)
    headers["X-Weave-Timestamp"] = render_ts(stamp)
    if reply.last_modified is not None:
        headers["X-Last-Modified"] = render_ts(reply.last_modified)
    if reply.status == 304:
        # Not Modified has no representation: no body, no Content-Type or Content-Length.
        return Response(None, 304, headers=headers)
    return Response(reply.body, reply.status, headers=headers, media_type=reply.media_type)


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (ASGI sends them so), the first value of each:
    one pass, where each ``Headers.get`` would scan them all again."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return found


def node_endpoint(handler: Handler, *, allow_expired: bool = False) -> Callable[..., object]:
    """Wrap a handler: node check, body limit, Hawk, name validation, error rendering."""

    async def endpoint(request: Request) -> Response:
        scope = request.scope
        core: Core = scope["app"].state.core
        now = now_ms(core.clock)
        method: str = scope["method"]
        try:
            params = scope["path_params"]
            node = path_number(params["node"])
            uid = path_number(params["uid"])
            if not 1 <= node <= core.nodes:
                raise StorageHTTPError(404, 0)
            headers = _headers(scope)
            body = b""
            if method in ("POST", "PUT"):
                body = await _read_body(request, headers, core.limits.max_request_bytes)
            host, port = split_host(headers.get("host", ""), scope["scheme"])
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
            query_string: bytes = scope.get("query_string", b"")
            resource = raw_path.decode("latin-1")
            if query_string:
                resource += "?" + query_string.decode("latin-1")
            user = core.gate.authenticate(
                RequestFacts(
                    method=method,
                    resource=resource,
                    host=host,
                    port=port,
                    authorization=headers.get("authorization"),
                    node=node,
                    uid=uid,
                    allow_expired=allow_expired and method in ("GET", "HEAD"),
                )
            )
            collection = params.get("collection")
            if collection is not None and not valid_collection(collection):
                raise StorageHTTPError(400, RESP_INVALID_COLLECTION)
            bso_id = params.get("bso_id")
            if bso_id is not None and not valid_id(bso_id):
                raise StorageHTTPError(400, RESP_INVALID_BSO)
            reply = handler(
                NodeRequest(
                    core=core,
                    user=user,
                    method=method,
                    query_string=query_string,
                    headers=headers,
                    body=body,
                    collection=collection,
                    bso_id=bso_id,
                    now=now,
                )
            )
        except StorageHTTPError as exc:
            reply = Reply(exc.status, str(exc.code), exc.last_modified, exc.headers)
        return render(reply, now)

    return endpoint


def node_routes(writes: dict[str, Handler]) -> list[Route]:
    """Every storage route; ``writes`` maps names to the handlers of ``_writes``."""
    root = "/node/{node}/1.5/{uid}"

    def route(path: str, handler: Handler, method: str, **kw: bool) -> Route:
        return Route(root + path, node_endpoint(handler, **kw), methods=[method])

    return [
        route("/info/collections", info_collections, "GET", allow_expired=True),
        route("/info/quota", info_quota, "GET"),
        route("/info/collection_usage", info_collection_usage, "GET"),
        route("/info/collection_counts", info_collection_counts, "GET"),
        route("/info/configuration", info_configuration, "GET"),
        Route(root, node_endpoint(writes["delete_storage"]), methods=["DELETE"]),
        route("/storage", writes["delete_storage"], "DELETE"),
        Route(
            root + "/storage/{collection}",
            node_endpoint(_by_method(get_collection, writes["post"], writes["delete"])),
            methods=["GET", "POST", "DELETE"],
        ),
        Route(
            root + "/storage/{collection}/{bso_id}",
            node_endpoint(_by_method(get_item, writes["put_item"], writes["delete_item"])),
            methods=["GET", "PUT", "DELETE"],
        ),
    ]


def _by_method(get: Handler, post_or_put: Handler, delete: Handler) -> Handler:
    def dispatch(ctx: NodeRequest) -> Reply:
        if ctx.method in ("GET", "HEAD"):
            return get(ctx)
        if ctx.method == "DELETE":
            return delete(ctx)
        return post_or_put(ctx)

    return dispatch
