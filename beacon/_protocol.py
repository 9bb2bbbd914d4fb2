"""The Sync 1.5 protocol's constants and small rules: one home for each, client and server alike.

Contract: pure values and functions, no I/O. Everything that names a protocol number or rule
(the storage version, TTLs and limits, what a collection name or a record id may be, how a
syncID is made, which headers ask for backoff, where a storage node ends in an endpoint)
imports it from here. § numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable

__all__ = [
    "BACKOFF_HEADERS",
    "CLIENTS_TTL",
    "COLLECTION",
    "COLLECTION_PATTERN",
    "MAX_TTL",
    "RECORD_ID",
    "RECORD_ID_PATTERN",
    "SORTINDEX_LIMIT",
    "STORAGE_VERSION",
    "format_timestamp",
    "new_sync_id",
    "node_of",
    "valid_collection",
    "valid_record_id",
]

#: The storage format this project speaks and serves (§4.3).
STORAGE_VERSION = 5
#: TTL of a clients record: 180 days (§4.6, application-services ``CLIENTS_TTL``).
CLIENTS_TTL = 15_552_000
#: The largest ``ttl`` a BSO may carry, in seconds (§3.2).
MAX_TTL = 999_999_999
#: ``sortindex`` lies within ±this (§3.2).
SORTINDEX_LIMIT = 999_999_999

#: A collection name: 1-32 of ``[a-zA-Z0-9._-]`` (§3.1).
COLLECTION_PATTERN = r"[a-zA-Z0-9._-]{1,32}"
#: A record id: 1-64 printable ASCII characters (§3.2; "," is refused where ids are listed).
RECORD_ID_PATTERN = r"[ -~]{1,64}"
COLLECTION = re.compile(rf"\A{COLLECTION_PATTERN}\Z")
RECORD_ID = re.compile(rf"\A{RECORD_ID_PATTERN}\Z")

#: Response headers that ask a client to back off, on any status (§3.9), as sent.
BACKOFF_HEADERS = ("X-Weave-Backoff", "X-Backoff", "Backoff")


def valid_collection(name: object) -> bool:
    """Whether ``name`` may name a collection."""
    return isinstance(name, str) and COLLECTION.match(name) is not None


def format_timestamp(value: float) -> str:
    """Render seconds with exactly two decimals, as headers and JSON bodies need (§3.3).

    >>> format_timestamp(1234.5)
    '1234.50'
    """
    return f"{value:.2f}"


def valid_record_id(value: object) -> bool:
    """Whether ``value`` may be a record id."""
    return isinstance(value, str) and RECORD_ID.match(value) is not None


def new_sync_id(rng: Callable[[int], bytes] = os.urandom) -> str:
    """A record id or syncID: 9 random bytes as URL-safe base64, 12 characters (§4.5)."""
    return base64.urlsafe_b64encode(rng(9)).decode("ascii")


def node_of(api_endpoint: str) -> str:
    """The storage node of an ``api_endpoint``: everything before ``/1.5/<uid>``.

    A node is not always a host of its own (the embedded service serves its nodes under
    ``/node/<n>``), so the path counts too; backoff is kept per node (docs/anchors.md P12).
    """
    base, sep, _ = api_endpoint.rstrip("/").rpartition("/1.5/")
    return base if sep else api_endpoint.rstrip("/")
