"""beacon's exceptions: one root, subclasses named by whose fault it was.

::

    BeaconError                         root; everything public raises a subclass
    ├── UsageError (ValueError)         the caller's fault: bad argument or configuration
    │   └── ChartError                  a chart document is invalid or was misused
    │       └── UnhandledEvent          an event arrived that no transition takes
    ├── TransportError                  no complete HTTP exchange (connect, read, TLS)
    │   └── TransportTimeout
    ├── ServerError                     the server refused in-protocol: .status .url .retry_after
    │   ├── AuthenticationError         401: credentials or token refused
    │   ├── ConflictError               409/412: a concurrent writer won the race
    │   ├── BackoffError                503/429/Backoff: .until (epoch seconds)
    │   └── ServiceEndOfLife            513: the service retired this client (.alert)
    ├── ProtocolViolation               the server said something out of protocol
    │   ├── ClientUpgradeRequired       storage version newer than this client speaks
    │   └── SetupRaceError              storage was re-initialised under us twice in one run
    └── TrustError                      a security property failed
        ├── RecordIntegrityError        bad HMAC, base64, padding, IV or JSON: one type
        └── KeyMismatchError            crypto/keys does not verify under our kB

Context travels as attributes set through keyword-only arguments, never inside the message
only; messages never carry key material, tokens or record plaintext.
"""

from __future__ import annotations

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
    "ServiceEndOfLife",
    "SetupRaceError",
    "TransportError",
    "TransportTimeout",
    "TrustError",
    "UnhandledEvent",
    "UsageError",
    "error_class",
    "make_error",
]


class BeaconError(Exception):
    """Root of every exception beacon raises through its public API."""

    #: A short stable name for machines (``--json`` output, traces).
    kind: str = "beacon"


class UsageError(BeaconError, ValueError):
    """The caller misused the API or gave bad configuration or input."""

    kind = "usage"


class ChartError(UsageError):
    """A chart document is invalid, or a chart was driven in a way it does not allow.

    ``findings`` holds the individual problems (each names file, state, event and transition).
    """

    kind = "chart"

    def __init__(self, message: str, *, findings: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.findings = findings


class UnhandledEvent(ChartError):
    """An event arrived in a configuration where no transition takes it."""

    kind = "unhandled_event"

    def __init__(self, message: str, *, event: str, configuration: tuple[str, ...]) -> None:
        super().__init__(message)
        self.event = event
        self.configuration = configuration


class TransportError(BeaconError):
    """No complete HTTP exchange took place (connection refused, reset, TLS, protocol error)."""

    kind = "transport"

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class TransportTimeout(TransportError):
    """The server did not answer in time."""

    kind = "timeout"


class ServerError(BeaconError):
    """The server answered, and refused the request within the protocol."""

    kind = "server"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.retry_after = retry_after
        self.body = body


class AuthenticationError(ServerError):
    """A 401: the token server refused our credentials, or a storage node our token."""

    kind = "authentication"


class ConflictError(ServerError):
    """A 409 or 412: another client changed what we meant to change."""

    kind = "conflict"


class BackoffError(ServerError):
    """The server asked us to wait (503, 429, Backoff headers); ``until`` is epoch seconds."""

    kind = "backoff"

    def __init__(
        self,
        message: str,
        *,
        until: float,
        status: int | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url, retry_after=retry_after, body=body)
        self.until = until


class ServiceEndOfLife(ServerError):
    """513: the service has retired this client (X-Weave-Alert ``hard-eol``); upgrade it.

    ``alert`` is the server's X-Weave-Alert as a mapping (``code``, ``message``, ``url``), or
    ``None``; it is the operator's text, never a secret.
    """

    kind = "end_of_life"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 513,
        url: str | None = None,
        alert: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, status=status, url=url)
        self.alert = alert


class ProtocolViolation(BeaconError):
    """The server sent something outside the protocol (bad JSON, missing headers, bad model)."""

    kind = "protocol"


class ClientUpgradeRequired(ProtocolViolation):
    """meta/global declares a storage version newer than this client understands."""

    kind = "client_upgrade_required"

    def __init__(self, message: str, *, storage_version: int) -> None:
        super().__init__(message)
        self.storage_version = storage_version


class SetupRaceError(ProtocolViolation):
    """Storage needed a fresh start twice in one run: another client is racing us."""

    kind = "setup_race"


class TrustError(BeaconError):
    """A security property failed; never retried blindly and never answered with a wipe."""

    kind = "trust"


class RecordIntegrityError(TrustError):
    """A record failed verification or decryption. Deliberately carries no detail."""

    kind = "record_integrity"


class KeyMismatchError(TrustError):
    """crypto/keys does not verify under the key bundle derived from our kB."""

    kind = "key_mismatch"


def error_class(name: str) -> type[BeaconError] | None:
    """The class of this module named ``name`` (``"BackoffError"``), or None.

    Charts name the error a failure final raises by class name (``beacon.charts._roles``).
    """
    value = globals().get(name)
    if isinstance(value, type) and issubclass(value, BeaconError):
        return value
    return None


def make_error(cls: type[BeaconError], message: str) -> BeaconError:
    """An instance of ``cls`` with only a message; its nearest base that takes one otherwise.

    For a run that reached a failure final without an error recorded with the outcome (an
    eventless path, say): the declared class still says whose fault it was.
    """
    for base in cls.__mro__:
        if isinstance(base, type) and issubclass(base, BeaconError):
            try:
                return base(message)
            except TypeError:  # the class needs context (BackoffError.until, ...)
                continue
    return BeaconError(message)  # pragma: no cover - BeaconError itself takes a message
