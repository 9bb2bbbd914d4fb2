"""beacon: a Firefox Sync 1.5 client whose control flow is a declarative statechart.

This module is the one public door: everything a user needs is importable from ``beacon``.
"""

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

__version__ = "0.1.0"

__all__ = [
    "AuthenticationError",
    "BackoffError",
    "BeaconError",
    "ChartError",
    "ClientUpgradeRequired",
    "ConflictError",
    "KeyMismatchError",
    "ProtocolViolation",
    "RecordIntegrityError",
    "ServerError",
    "SetupRaceError",
    "TransportError",
    "TransportTimeout",
    "TrustError",
    "UnhandledEvent",
    "UsageError",
]
