"""The Sync 1.5 client: transport, token and storage clients, local store, engines, charts.

Nothing here imports ``beacon.server``; both stand on the protocol primitives.

How a run is put together (``SyncClient.sync()``, in ``_client``):

* ``statecharts/session.yaml`` is the machine of docs/seed-note.md (Married → Initial Assigned →
  info/collections → meta/global and crypto/keys → Ready), bound to ``_session_service``;
* its ``assigning`` state runs ``statecharts/token.yaml`` (``_token_service``);
* its ``syncing_engine`` state runs ``statecharts/collection.yaml`` once per engine
  (``_collection_service``), clients first, as ``ready`` chooses them;
* the services do their I/O through ``_tokenclient``, ``_storage`` and ``_transport``, keep
  what must survive in ``_store`` (one SQLite file per account, written in a transaction per
  action) and share one run's working set through ``_run``; ``_setup`` holds the meta/global
  arithmetic (fresh records, fix-ups, the declined merge);
* engines (``_engines``) give records their local meaning; ``engines/`` holds the typed
  engines of Firefox's own collections (bookmarks as a tree, history, passwords, tabs, forms,
  addresses, credit cards, prefs).
"""

import importlib
import typing as _typing

from beacon.client import _collection_service, _fresh_start, _session_service, _token_service
from beacon.client._client import STATE_FILE, SyncClient, SyncResult, state_file
from beacon.client._collection_service import PAGE_SIZE
from beacon.client._engines import (
    CLIENTS_TTL,
    ApplyCounts,
    ClientsEngine,
    Engine,
    IncomingRecord,
    OutgoingRecord,
    RecordEngine,
    StoreBound,
)
from beacon.client._store import Store

if _typing.TYPE_CHECKING:
    from beacon.client.engines import (
        AddressesEngine,
        BookmarksEngine,
        CreditCardsEngine,
        FormsEngine,
        HistoryEngine,
        PasswordsEngine,
        PrefsEngine,
        ProblemCounts,
        RecordProblem,
        TabsEngine,
    )

# The typed engines (pydantic models of Firefox's records) load on first use (PEP 562): a
# sync of other collections never needs them.
_ENGINES = frozenset(
    {
        "AddressesEngine",
        "BookmarksEngine",
        "CreditCardsEngine",
        "FormsEngine",
        "HistoryEngine",
        "PasswordsEngine",
        "PrefsEngine",
        "ProblemCounts",
        "RecordProblem",
        "TabsEngine",
    }
)


def __getattr__(name: str) -> _typing.Any:
    """Import a typed engine's name from ``beacon.client.engines`` when first asked for."""
    if name not in _ENGINES:
        raise AttributeError(f"module 'beacon.client' has no attribute {name!r}")
    value = getattr(importlib.import_module("beacon.client.engines"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


#: The service classes each packaged Sync chart binds, by chart name. ``beacon chart check``
#: reads their ``@action``/``@guard`` marks to check names and completeness without running them.
CHART_SERVICES: dict[str, tuple[type, ...]] = {
    "token": (_token_service.TokenService,),
    "session": (_session_service.SessionService, _fresh_start.FreshStartService),
    "collection": (_collection_service.CollectionService,),
}

__all__ = [
    "CHART_SERVICES",
    "CLIENTS_TTL",
    "PAGE_SIZE",
    "STATE_FILE",
    "AddressesEngine",
    "ApplyCounts",
    "BookmarksEngine",
    "ClientsEngine",
    "CreditCardsEngine",
    "Engine",
    "FormsEngine",
    "HistoryEngine",
    "IncomingRecord",
    "OutgoingRecord",
    "PasswordsEngine",
    "PrefsEngine",
    "ProblemCounts",
    "RecordEngine",
    "RecordProblem",
    "Store",
    "StoreBound",
    "SyncClient",
    "SyncResult",
    "TabsEngine",
    "state_file",
]
