"""Upload planning for ``POST storage/<collection>``: records → POSTs → batches (§3.6, §3.7).

Contract:

1. :func:`plan_batches` is pure: it splits records into POST bodies that respect
   ``max_post_records``, ``max_post_bytes`` (sum of payload bytes) and ``max_request_bytes``
   (the body), and groups POSTs into batches that respect ``max_total_records`` and
   ``max_total_bytes``. A record whose payload exceeds ``max_record_payload_bytes`` (or that
   no POST could carry) is not sent and is reported failed with ``"too large"``. When the
   same id appears twice, the last one is uploaded (rs refuses duplicate ids in one POST).
2. :meth:`Plan.run` sends the plan through a ``send(params, headers, body)`` callable:
   a one-POST batch is ``?batch=true&commit=true`` (a plain POST, §3.6); a longer one is
   ``?batch=true`` (202 + batch id), ``?batch=<id>`` ..., ``?batch=<id>&commit=true``. A
   server that answers 200 to ``batch=true`` has no batch support: the remaining POSTs are
   plain POSTs. Every POST carries ``X-If-Unmodified-Since`` (the caller's value; after each
   commit, the commit's X-Last-Modified, so the next batch builds on our own write).
3. Results: ids the server listed in ``success`` of a committed request, ``failed`` with the
   server's reasons, and ids it listed in neither are failed ``"not acknowledged"`` (§3.6).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from beacon._errors import ProtocolViolation
from beacon._protocol import format_timestamp
from beacon.client._responses import is_number, last_modified, not_after_response
from beacon.client._transport import Response

if TYPE_CHECKING:  # the models load pydantic: on first parse, not at import
    from beacon._models import Bso, InfoConfiguration

__all__ = ["Plan", "Post", "UploadResult", "plan_batches"]

Send = Callable[[dict[str, str], dict[str, str], bytes], Response]


@dataclass(frozen=True)
class UploadResult:
    """What an upload achieved.

    Attributes:
        success: ids stored and visible on the server.
        failed: id → reason (the server's, ``"too large"`` or ``"not acknowledged"``).
        modified: the collection's timestamp after the last commit; the caller's
            ``if_unmodified_since`` (or 0.0) when nothing was committed.
        posts: POST requests sent.
        batches: batches committed.
    """

    success: tuple[str, ...]
    failed: Mapping[str, str]
    modified: float
    posts: int = 0
    batches: int = 0


@dataclass(frozen=True)
class Post:
    """One POST body: the ids it carries and the JSON list bytes."""

    ids: tuple[str, ...]
    body: bytes = field(repr=False)
    payload_bytes: int


@dataclass(frozen=True)
class Plan:
    """Batches of POSTs, and the records refused before sending."""

    batches: tuple[tuple[Post, ...], ...]
    rejected: Mapping[str, str]

    def run(self, send: Send, *, if_unmodified_since: float | None) -> UploadResult:
        """Send every batch in order (see the module docstring)."""
        success: list[str] = []
        failed: dict[str, str] = dict(self.rejected)
        iuus = if_unmodified_since
        modified = iuus if iuus is not None else 0.0
        posts = batches = 0
        for batch in self.batches:
            batch_id: str | None = None
            batching = True
            staged: list[str] = []
            for index, post in enumerate(batch):
                last = index == len(batch) - 1
                params: dict[str, str] = {}
                if batching:
                    params["batch"] = "true" if batch_id is None else batch_id
                    if last:
                        params["commit"] = "true"
                headers = {"Content-Type": "application/json"}
                if iuus is not None:
                    headers["X-If-Unmodified-Since"] = format_timestamp(iuus)
                response = send(params, headers, post.body)
                posts += 1
                ok_ids, bad = _result(response)
                failed.update(bad)
                if response.status == 202:
                    new_id = _batch_id(response)
                    if last or not batching or (batch_id is not None and new_id != batch_id):
                        raise ProtocolViolation(f"{response.url}: unexpected 202 for this POST")
                    batch_id = new_id
                    staged.extend(ok_ids)
                    continue
                # 200: a commit, or a plain POST from a server without batch support.
                if batch_id is None and not last:
                    batching = False
                modified = _modified(response)
                iuus = modified
                success.extend(staged)
                success.extend(ok_ids)
                staged = []
                batches += 1
        done = set(success) | set(failed)
        for batch in self.batches:
            for post in batch:
                for bso_id in post.ids:
                    if bso_id not in done:
                        failed[bso_id] = "not acknowledged"
        kept = tuple(dict.fromkeys(i for i in success if i not in failed))
        return UploadResult(kept, failed, modified, posts, batches)


def plan_batches(records: Sequence[Bso], limits: InfoConfiguration) -> Plan:
    """Split ``records`` into POSTs and batches within ``limits`` (see the module docstring)."""
    last_by_id: dict[str, Bso] = {}
    for bso in records:
        last_by_id.pop(bso.id, None)
        last_by_id[bso.id] = bso
    rejected: dict[str, str] = {}
    batches: list[tuple[Post, ...]] = []
    batch: list[Post] = []
    batch_records = batch_bytes = 0
    chunk: list[tuple[str, bytes, int]] = []
    chunk_payload = 0
    chunk_body = 2  # "[" and "]"

    def close_chunk() -> None:
        nonlocal chunk, chunk_payload, chunk_body, batch_records, batch_bytes
        if chunk:
            body = b"[" + b",".join(item[1] for item in chunk) + b"]"
            batch.append(Post(tuple(item[0] for item in chunk), body, chunk_payload))
            batch_records += len(chunk)
            batch_bytes += chunk_payload
        chunk, chunk_payload, chunk_body = [], 0, 2

    def close_batch() -> None:
        nonlocal batch, batch_records, batch_bytes
        close_chunk()
        if batch:
            batches.append(tuple(batch))
        batch, batch_records, batch_bytes = [], 0, 0

    post_bytes_cap = min(limits.max_post_bytes, limits.max_total_bytes)
    for bso in last_by_id.values():
        encoded = json.dumps(_wire(bso), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        payload = len(bso.payload.encode("utf-8"))
        if (
            payload > limits.max_record_payload_bytes
            or payload > post_bytes_cap
            or len(encoded) + 2 > limits.max_request_bytes
        ):
            rejected[bso.id] = "too large"
            continue
        separator = 1 if chunk else 0
        if (
            len(chunk) + 1 > limits.max_post_records
            or chunk_payload + payload > limits.max_post_bytes
            or chunk_body + separator + len(encoded) > limits.max_request_bytes
        ):
            close_chunk()
        if (
            batch_records + len(chunk) + 1 > limits.max_total_records
            or batch_bytes + chunk_payload + payload > limits.max_total_bytes
        ):
            close_batch()
        chunk_body += (1 if chunk else 0) + len(encoded)
        chunk.append((bso.id, encoded, payload))
        chunk_payload += payload
    close_batch()
    return Plan(tuple(batches), rejected)


def _wire(bso: Bso) -> dict[str, Any]:
    """What a POST carries of a BSO: id, payload, sortindex and ttl when set (never modified).
    The same object as ``model_dump(exclude_none=True, exclude={"modified", "collection"})``
    (a BSO's fields have no aliases), built without pydantic's per-record dump."""
    wire: dict[str, Any] = {"id": bso.id, "payload": bso.payload}
    if bso.sortindex is not None:
        wire["sortindex"] = bso.sortindex
    if bso.ttl is not None:
        wire["ttl"] = bso.ttl
    return wire


def _result(response: Response) -> tuple[list[str], dict[str, str]]:
    body = response.json()
    if not isinstance(body, dict):
        raise ProtocolViolation(f"{response.url}: the POST result is not an object")
    ok = body.get("success", [])
    bad = body.get("failed", {})
    if not isinstance(ok, list) or not all(isinstance(i, str) for i in ok):
        raise ProtocolViolation(f"{response.url}: 'success' is not a list of ids")
    if not isinstance(bad, dict):
        raise ProtocolViolation(f"{response.url}: 'failed' is not an object")
    return ok, {str(k): _reason(v) for k, v in bad.items()}


def _reason(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)[:200]
    return str(value)[:200]


def _batch_id(response: Response) -> str:
    body = response.json()
    batch = body.get("batch") if isinstance(body, dict) else None
    if not isinstance(batch, str) or not batch:
        raise ProtocolViolation(f"{response.url}: a 202 without a batch id")
    return batch


def _modified(response: Response) -> float:
    """A commit's timestamp: X-Last-Modified, else the body's ``modified``; never later than
    the response's X-Weave-Timestamp (see :mod:`._responses`)."""
    if response.header("X-Last-Modified") is not None:
        return last_modified(response)
    body = response.json()
    value: Any = body.get("modified") if isinstance(body, dict) else None
    if not is_number(value):
        raise ProtocolViolation(f"{response.url}: a committed POST without a timestamp")
    return not_after_response(float(value), response, "the POST's modified time")
