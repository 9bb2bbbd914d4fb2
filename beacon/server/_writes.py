"""Storage-node write endpoints (docs/protocol.md §3.4, §3.6, §3.10, §3.11).

Contract:

* Bodies: ``application/json`` and ``text/plain`` (JSON), ``application/newlines`` (one JSON
  object per line); any other ``Content-Type`` → 415. Unparsable JSON → 400 ``6``; a POST body
  that is not a list of objects each with an ``id``, or with duplicate ids → 400 ``8``.
* POST: per-item failures go to ``failed`` (reasons ``invalid bso: <field>``,
  ``unknown field <k>``, ``retry bso`` beyond ``max_post_records`` or the batch's
  ``max_total_records``, ``retry bytes`` beyond ``max_record_payload_bytes``,
  ``max_post_bytes`` or ``max_total_bytes``). ``X-Weave-Records``/``-Bytes``/``-Total-Records``
  /``-Total-Bytes`` over the limits → 400 ``17``, non-integer → 400 ``1``.
* Batches: ``batch=true`` opens one (202 ``{"batch", "success", "failed"}``), ``batch=<id>``
  appends (202), ``commit=true`` applies everything at one timestamp (200, plain POST body);
  ``commit`` without ``batch``, a ``commit`` other than ``true`` or an unknown, expired or
  foreign batch id → 400 ``0``. ``batch=true&commit=true`` is a plain POST.
* PUT: one object; an invalid field, an id differing from the URL's or a payload over
  ``max_record_payload_bytes`` → 400 ``8``; answers the bare new timestamp.
* A crypto payload with an all-zero IV → 400 ``8`` (§3.11). Over quota (when a quota is set)
  → 403 ``14``; writes then carry ``X-Weave-Quota-Remaining`` (KB).
* DELETE collection answers the bare timestamp (rs), DELETE item ``{"modified": T}``, DELETE
  storage / root ``null``. A write that finds the user's write lock taken → 503 +
  ``Retry-After: 10`` (Mozilla's answer to a conflicting write). Nothing is stored on error.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from beacon.server import _batches, _store
from beacon.server._bso import check_bso, known_bad, payload_bytes
from beacon.server._storage import (
    Handler,
    NodeRequest,
    Reply,
    check_preconditions,
    exceeds,
    parse_ids,
)
from beacon.server._wire import (
    RESP_ILLEGAL_METHOD,
    RESP_INVALID_BSO,
    RESP_JSON_PARSE,
    RESP_OVER_QUOTA,
    RESP_SIZE_LIMIT,
    StorageHTTPError,
    Ts,
    dumps,
    render_ts,
)

CONFLICT_RETRY_AFTER = "10"


@contextmanager
def _write_lock(ctx: NodeRequest) -> Iterator[None]:
    with ctx.core.write_locks.try_hold(ctx.uid) as held:
        if not held:
            raise StorageHTTPError(503, 0, headers={"Retry-After": CONFLICT_RETRY_AFTER})
        yield


def _content_type(ctx: NodeRequest) -> str:
    value = ctx.headers.get("content-type") or "application/json"
    media = value.split(";", 1)[0].strip().lower()
    if media not in ("application/json", "text/plain", "application/newlines"):
        raise StorageHTTPError(415, 0)
    return media


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise StorageHTTPError(400, RESP_JSON_PARSE) from None


def _parse_list(ctx: NodeRequest) -> list[dict[str, Any]]:
    if _content_type(ctx) == "application/newlines":
        if not ctx.body:
            return []
        lines = ctx.body.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        data: Any = [_loads(line) for line in lines]
    else:
        data = _loads(ctx.body)
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    ids = [x.get("id") for x in data]
    if any(i is None for i in ids):
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    # Ids compare as JSON values (1 and "1" differ); strings, the usual case, as themselves.
    keys = ids if all(type(i) is str for i in ids) else [json.dumps(i, sort_keys=True) for i in ids]
    if len(set(keys)) != len(keys):
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    return data


def _size_header(ctx: NodeRequest, name: str, limit: int) -> None:
    value = ctx.headers.get(name)
    if value is None:
        return
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise StorageHTTPError(400, RESP_ILLEGAL_METHOD)
    if exceeds(text, limit):
        raise StorageHTTPError(400, RESP_SIZE_LIMIT)


def _quota(ctx: NodeRequest, incoming: int) -> dict[str, str]:
    """403 ``14`` when ``incoming`` bytes would pass the quota; else the remaining-KB header."""
    quota = ctx.core.quota_bytes
    if quota is None:
        return {}
    with ctx.core.db.reading() as conn:
        used = _store.used_bytes(conn, ctx.node, ctx.uid, ctx.now)
    if used + incoming > quota:
        raise StorageHTTPError(403, RESP_OVER_QUOTA)
    return {"X-Weave-Quota-Remaining": f"{(quota - used - incoming) / 1024:.2f}"}


def _sort_items(
    ctx: NodeRequest, raw_items: list[dict[str, Any]], *, records: int = 0, size: int = 0
) -> tuple[list[tuple[dict[str, Any], int]], list[str], dict[str, str]]:
    """Validate and apply the per-request and per-batch limits (§3.6)."""
    limits = ctx.core.limits
    assert ctx.collection is not None
    accepted: list[tuple[dict[str, Any], int]] = []
    failed: dict[str, str] = {}
    post_bytes = 0
    for index, raw in enumerate(raw_items):
        key = raw["id"] if isinstance(raw["id"], str) else json.dumps(raw["id"])
        checked = check_bso(raw)
        if isinstance(checked, str):
            failed[key] = checked
            continue
        if known_bad(ctx.collection, checked):
            raise StorageHTTPError(400, RESP_INVALID_BSO)
        nbytes = payload_bytes(checked)
        if index >= limits.max_post_records or records + len(accepted) >= (
            limits.max_total_records
        ):
            failed[key] = "retry bso"
        elif (
            nbytes > limits.max_record_payload_bytes
            or post_bytes + nbytes > limits.max_post_bytes
            or size + post_bytes + nbytes > limits.max_total_bytes
        ):
            failed[key] = "retry bytes"
        else:
            post_bytes += nbytes
            accepted.append((checked, nbytes))
    return accepted, [item["id"] for item, _ in accepted], failed


def post_collection(ctx: NodeRequest) -> Reply:
    assert ctx.collection is not None
    limits = ctx.core.limits
    _size_header(ctx, "x-weave-records", limits.max_post_records)
    _size_header(ctx, "x-weave-bytes", limits.max_post_bytes)
    _size_header(ctx, "x-weave-total-records", limits.max_total_records)
    _size_header(ctx, "x-weave-total-bytes", limits.max_total_bytes)
    batch = ctx.query.get("batch")
    commit = ctx.query.get("commit")
    if commit is not None and (commit.lower() != "true" or batch is None):
        raise StorageHTTPError(400, 0)
    batch_id: int | None = None
    if batch is not None and batch.lower() != "true":
        if not batch.isascii() or not batch.isdigit() or len(batch) > 18:
            raise StorageHTTPError(400, 0)
        batch_id = int(batch)
    raw_items = _parse_list(ctx)
    node, uid, name, now = ctx.node, ctx.uid, ctx.collection, ctx.now
    with _write_lock(ctx):
        with ctx.core.db.reading() as conn:
            current = _store.collection_modified(conn, node, uid, name)
            check_preconditions(ctx, current)
            info = None
            if batch_id is not None:
                info = _batches.find_batch(conn, node, uid, name, batch_id, now)
                if info is None:
                    raise StorageHTTPError(400, 0)
        accepted, success, failed = _sort_items(
            ctx,
            raw_items,
            records=0 if info is None else info.records,
            size=0 if info is None else info.bytes,
        )
        quota_headers = _quota(ctx, sum(n for _, n in accepted))
        with ctx.core.db.transaction() as conn:
            if batch is not None and commit is None:
                if info is None:
                    info = _batches.create_batch(conn, node, uid, name, now)
                _batches.append_batch(conn, info, accepted)
                body = {"batch": str(info.id), "success": success, "failed": failed}
                return Reply(202, dumps(body), current, quota_headers)
            items = [item for item, _ in accepted]
            if info is not None:
                items = _batches.take_batch(conn, info.id) + items
            if items:
                when = _store.write_time(conn, node, uid, now)
                _store.apply_items(conn, node, uid, name, items, when=when, now=now)
                _store.touch(conn, node, uid, name, when)
            else:
                when = current
        result: dict[str, object] = {"modified": Ts(when), "success": success, "failed": failed}
        return Reply(200, dumps(result), when, quota_headers)


def put_item(ctx: NodeRequest) -> Reply:
    assert ctx.collection is not None
    assert ctx.bso_id is not None
    if _content_type(ctx) == "application/newlines":
        data: Any = _loads(ctx.body.rstrip(b"\n"))
    else:
        data = _loads(ctx.body)
    if not isinstance(data, dict):
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    if data.get("id", ctx.bso_id) != ctx.bso_id:
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    checked = check_bso({**data, "id": ctx.bso_id})
    if isinstance(checked, str) or known_bad(ctx.collection, checked):
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    nbytes = payload_bytes(checked)
    if nbytes > ctx.core.limits.max_record_payload_bytes:
        raise StorageHTTPError(400, RESP_INVALID_BSO)
    with _write_lock(ctx):
        quota_headers = _quota(ctx, nbytes)
        with ctx.core.db.transaction() as conn:
            row = _store.get_bso(conn, ctx.node, ctx.uid, ctx.collection, ctx.bso_id, ctx.now)
            check_preconditions(ctx, 0 if row is None else row.modified)
            when = _store.write_time(conn, ctx.node, ctx.uid, ctx.now)
            _store.apply_items(
                conn, ctx.node, ctx.uid, ctx.collection, [checked], when=when, now=ctx.now
            )
            _store.touch(conn, ctx.node, ctx.uid, ctx.collection, when)
    return Reply(200, render_ts(when), when, quota_headers)


def delete_collection(ctx: NodeRequest) -> Reply:
    assert ctx.collection is not None
    ids = parse_ids(ctx.query.get("ids"))
    node, uid, name = ctx.node, ctx.uid, ctx.collection
    with _write_lock(ctx), ctx.core.db.transaction() as conn:
        check_preconditions(ctx, _store.collection_modified(conn, node, uid, name))
        if not _store.collection_exists(conn, node, uid, name):
            store = _store.store_modified(conn, node, uid)
            return Reply(200, render_ts(store), store)
        when = _store.write_time(conn, node, uid, ctx.now)
        if ids is None:
            _store.delete_collection(conn, node, uid, name)
            _store.touch(conn, node, uid, None, when)
        else:
            _store.delete_ids(conn, node, uid, name, ids)
            _store.touch(conn, node, uid, name, when)
    return Reply(200, render_ts(when), when)


def delete_item(ctx: NodeRequest) -> Reply:
    assert ctx.collection is not None
    assert ctx.bso_id is not None
    node, uid, name = ctx.node, ctx.uid, ctx.collection
    with _write_lock(ctx), ctx.core.db.transaction() as conn:
        row = _store.get_bso(conn, node, uid, name, ctx.bso_id, ctx.now)
        if row is None:
            raise StorageHTTPError(404, 0)
        check_preconditions(ctx, row.modified)
        when = _store.write_time(conn, node, uid, ctx.now)
        _store.delete_bso(conn, node, uid, name, ctx.bso_id)
        _store.touch(conn, node, uid, name, when)
    return Reply(200, dumps({"modified": Ts(when)}), when)


def delete_storage(ctx: NodeRequest) -> Reply:
    with _write_lock(ctx), ctx.core.db.transaction() as conn:
        check_preconditions(ctx, _store.store_modified(conn, ctx.node, ctx.uid))
        when = _store.write_time(conn, ctx.node, ctx.uid, ctx.now)
        _store.delete_all(conn, ctx.node, ctx.uid)
        _store.touch(conn, ctx.node, ctx.uid, None, when)
    return Reply(200, "null", when)


HANDLERS: dict[str, Handler] = {
    "post": post_collection,
    "put_item": put_item,
    "delete": delete_collection,
    "delete_item": delete_item,
    "delete_storage": delete_storage,
}
