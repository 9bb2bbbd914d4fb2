"""beacon: a Firefox Sync 1.5 client whose control flow is a declarative statechart.

This module is the one public door: everything a user needs is importable from ``beacon``.
Each name is imported from its home module on first use (PEP 562), so ``import beacon``
(and the ``beacon`` command, which imports it) loads nothing it does not need: a sync never
loads the embedded server, the renderer or the campaign.
"""

import importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from beacon._crypto import (
        CollectionKeys,
        KeyBundle,
        SyncKey,
        client_state,
        decrypt_record,
        encrypt_record,
        key_id,
    )
    from beacon._errors import (
        AuthenticationError,
        BackoffError,
        BeaconError,
        ChartError,
        ClientUpgradeRequired,
        ConflictError,
        KeyMismatchError,
        ProtocolViolation,
        RecordIntegrityError,
        ServerError,
        ServiceEndOfLife,
        SetupRaceError,
        TransportError,
        TransportTimeout,
        TrustError,
        UnhandledEvent,
        UsageError,
    )
    from beacon._hawk import HawkAuth
    from beacon._models import (
        Bso,
        ClientCommand,
        ClientRecord,
        EngineEntry,
        InfoCollections,
        InfoConfiguration,
        MetaGlobal,
        TokenResponse,
        parse_model,
    )
    from beacon.charts import (
        Chart,
        Finding,
        Machine,
        RunResult,
        Step,
        Trace,
        action,
        bind,
        chart_path,
        check_chart,
        guard,
        load_chart,
    )
    from beacon.client import (
        ApplyCounts,
        ClientsEngine,
        Engine,
        IncomingRecord,
        OutgoingRecord,
        RecordEngine,
        SyncClient,
        SyncResult,
    )
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
    from beacon.server import Account, EmbeddedService

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AddressesEngine",
    "ApplyCounts",
    "AuthenticationError",
    "BackoffError",
    "BeaconError",
    "BookmarksEngine",
    "Bso",
    "Chart",
    "ChartError",
    "ClientCommand",
    "ClientRecord",
    "ClientUpgradeRequired",
    "ClientsEngine",
    "CollectionKeys",
    "ConflictError",
    "CreditCardsEngine",
    "EmbeddedService",
    "Engine",
    "EngineEntry",
    "Finding",
    "FormsEngine",
    "HawkAuth",
    "HistoryEngine",
    "IncomingRecord",
    "InfoCollections",
    "InfoConfiguration",
    "KeyBundle",
    "KeyMismatchError",
    "Machine",
    "MetaGlobal",
    "OutgoingRecord",
    "PasswordsEngine",
    "PrefsEngine",
    "ProblemCounts",
    "ProtocolViolation",
    "RecordEngine",
    "RecordIntegrityError",
    "RecordProblem",
    "RunResult",
    "ServerError",
    "ServiceEndOfLife",
    "SetupRaceError",
    "Step",
    "SyncClient",
    "SyncKey",
    "SyncResult",
    "TabsEngine",
    "TokenResponse",
    "Trace",
    "TransportError",
    "TransportTimeout",
    "TrustError",
    "UnhandledEvent",
    "UsageError",
    "action",
    "bind",
    "chart_path",
    "check_chart",
    "client_state",
    "decrypt_record",
    "encrypt_record",
    "guard",
    "key_id",
    "load_chart",
    "parse_model",
]

# Where each public name lives, read by __getattr__ on first use.
_LAZY: dict[str, str] = {
    "CollectionKeys": "beacon._crypto",
    "KeyBundle": "beacon._crypto",
    "SyncKey": "beacon._crypto",
    "client_state": "beacon._crypto",
    "decrypt_record": "beacon._crypto",
    "encrypt_record": "beacon._crypto",
    "key_id": "beacon._crypto",
    "AuthenticationError": "beacon._errors",
    "BackoffError": "beacon._errors",
    "BeaconError": "beacon._errors",
    "ChartError": "beacon._errors",
    "ClientUpgradeRequired": "beacon._errors",
    "ConflictError": "beacon._errors",
    "KeyMismatchError": "beacon._errors",
    "ProtocolViolation": "beacon._errors",
    "RecordIntegrityError": "beacon._errors",
    "ServerError": "beacon._errors",
    "ServiceEndOfLife": "beacon._errors",
    "SetupRaceError": "beacon._errors",
    "TransportError": "beacon._errors",
    "TransportTimeout": "beacon._errors",
    "TrustError": "beacon._errors",
    "UnhandledEvent": "beacon._errors",
    "UsageError": "beacon._errors",
    "HawkAuth": "beacon._hawk",
    "Bso": "beacon._models",
    "ClientCommand": "beacon._models",
    "ClientRecord": "beacon._models",
    "EngineEntry": "beacon._models",
    "InfoCollections": "beacon._models",
    "InfoConfiguration": "beacon._models",
    "MetaGlobal": "beacon._models",
    "TokenResponse": "beacon._models",
    "parse_model": "beacon._models",
    "Chart": "beacon.charts",
    "Finding": "beacon.charts",
    "Machine": "beacon.charts",
    "RunResult": "beacon.charts",
    "Step": "beacon.charts",
    "Trace": "beacon.charts",
    "action": "beacon.charts",
    "bind": "beacon.charts",
    "chart_path": "beacon.charts",
    "check_chart": "beacon.charts",
    "guard": "beacon.charts",
    "load_chart": "beacon.charts",
    "ApplyCounts": "beacon.client",
    "ClientsEngine": "beacon.client",
    "Engine": "beacon.client",
    "IncomingRecord": "beacon.client",
    "OutgoingRecord": "beacon.client",
    "RecordEngine": "beacon.client",
    "SyncClient": "beacon.client",
    "SyncResult": "beacon.client",
    "AddressesEngine": "beacon.client.engines",
    "BookmarksEngine": "beacon.client.engines",
    "CreditCardsEngine": "beacon.client.engines",
    "FormsEngine": "beacon.client.engines",
    "HistoryEngine": "beacon.client.engines",
    "PasswordsEngine": "beacon.client.engines",
    "PrefsEngine": "beacon.client.engines",
    "ProblemCounts": "beacon.client.engines",
    "RecordProblem": "beacon.client.engines",
    "TabsEngine": "beacon.client.engines",
    "Account": "beacon.server",
    "EmbeddedService": "beacon.server",
}


def __getattr__(name: str) -> _typing.Any:
    """Import a public name from its home module the first time it is asked for."""
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module 'beacon' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
