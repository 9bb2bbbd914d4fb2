"""The Sync 1.5 client: transport, token and storage clients, local store, engines, charts.

Nothing here imports ``beacon.server``; both stand on the protocol primitives.

How a run is put together (``SyncClient.sync()``, in ``_client``):

* ``statecharts/session.yaml`` is the seed note's machine (Married → Initial Assigned →
  info/collections → meta/global and crypto/keys → Ready), bound to ``_session_service``;
* its ``assigning`` state runs ``statecharts/token.yaml`` (``_token_service``);
* its ``ready`` state runs ``statecharts/collection.yaml`` once per engine
  (``_collection_service``), clients first;
* the services do their I/O through ``_tokenclient``, ``_storage`` and ``_transport``, keep
  what must survive in ``_store`` (one SQLite file per account, written in a transaction per
  action) and share one run's working set through ``_run``; ``_setup`` holds the meta/global
  arithmetic (fresh records, fix-ups, the declined merge);
* engines (``_engines``) give records their local meaning; ``engines/`` holds the typed
  engines of Firefox's own collections (bookmarks as a tree, history, passwords, tabs, forms,
  addresses, credit cards, prefs).
"""

from beacon.client._collection_service import CollectionService
from beacon.client._fresh_start import FreshStartService
from beacon.client._session_service import SessionService
from beacon.client._token_service import TokenService
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

#: The service classes each packaged Sync chart binds, by chart name. ``beacon chart check``
#: reads their ``@action``/``@guard`` marks to check names and completeness without running them.
CHART_SERVICES: dict[str, tuple[type, ...]] = {
    "token": (TokenService,),
    "session": (SessionService, FreshStartService),
    "collection": (CollectionService,),
}

__all__ = [
    "CHART_SERVICES",
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
]
