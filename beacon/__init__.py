"""beacon: a Firefox Sync 1.5 client whose control flow is a declarative statechart.

This module is the one public door: everything a user needs is importable from ``beacon``.
"""

from beacon._crypto import (
    CollectionKeys,
    KeyBundle,
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
    SetupRaceError,
    TransportError,
    TransportTimeout,
    TrustError,
    UnhandledEvent,
    UsageError,
)
from beacon._hawk import HawkAuth
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
from beacon.server import Account, EmbeddedService

__version__ = "0.1.0"

__all__ = [
    "Account",
    "AuthenticationError",
    "BackoffError",
    "BeaconError",
    "Chart",
    "ChartError",
    "ClientUpgradeRequired",
    "CollectionKeys",
    "ConflictError",
    "EmbeddedService",
    "Finding",
    "HawkAuth",
    "KeyBundle",
    "KeyMismatchError",
    "Machine",
    "ProtocolViolation",
    "RecordIntegrityError",
    "RunResult",
    "ServerError",
    "SetupRaceError",
    "Step",
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
]
