"""Typed engines for Firefox's own collections, on the :class:`~beacon.client._engines.Engine`
Protocol and the store's records table.

One module per collection (``_bookmarks``, ``_history``, ``_passwords``, ``_tabs``,
``_forms``, ``_autofill`` for addresses and credit cards, ``_prefs``), a shared base
(``_base.TypedEngine``: typed records that keep unknown fields, per-record problem reports,
the edit-time rule), the wire models' base (``_wire.Wire``) and the pure bookmark tree
(``_bookmark_tree``). Each engine's docstring gives its record format, units, repairs and
merge, with the application-services or desktop source it follows.
"""

from typing import Any

from beacon.client.engines._autofill import (
    AddressesEngine,
    AddressRecord,
    CreditCardRecord,
    CreditCardsEngine,
)
from beacon.client.engines._base import RecordProblem, TypedEngine
from beacon.client.engines._bookmark_records import BookmarkItem
from beacon.client.engines._bookmark_tree import Problem, ProblemCounts, build_tree
from beacon.client.engines._bookmarks import BookmarksEngine
from beacon.client.engines._forms import FormEntry, FormsEngine
from beacon.client.engines._history import HistoryEngine, HistoryRecord, Visit
from beacon.client.engines._passwords import Login, PasswordsEngine
from beacon.client.engines._prefs import PREFS_GUID, PrefsEngine, PrefsRecord
from beacon.client.engines._tabs import Tab, TabsEngine, TabsRecord

#: Every typed engine class, by collection name.
FIREFOX_ENGINES: dict[str, type[Any]] = {
    "bookmarks": BookmarksEngine,
    "history": HistoryEngine,
    "passwords": PasswordsEngine,
    "tabs": TabsEngine,
    "forms": FormsEngine,
    "addresses": AddressesEngine,
    "creditcards": CreditCardsEngine,
    "prefs": PrefsEngine,
}

__all__ = [
    "FIREFOX_ENGINES",
    "PREFS_GUID",
    "AddressRecord",
    "AddressesEngine",
    "BookmarkItem",
    "BookmarksEngine",
    "CreditCardRecord",
    "CreditCardsEngine",
    "FormEntry",
    "FormsEngine",
    "HistoryEngine",
    "HistoryRecord",
    "Login",
    "PasswordsEngine",
    "PrefsEngine",
    "PrefsRecord",
    "Problem",
    "ProblemCounts",
    "RecordProblem",
    "Tab",
    "TabsEngine",
    "TabsRecord",
    "TypedEngine",
    "Visit",
    "build_tree",
]
