"""The error tree of beacon/_errors.py: shape, context attributes and stable kinds."""

from __future__ import annotations

import pytest

import beacon
from beacon import (
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

TREE: dict[type[BeaconError], type[BeaconError]] = {
    UsageError: BeaconError,
    ChartError: UsageError,
    UnhandledEvent: ChartError,
    TransportError: BeaconError,
    TransportTimeout: TransportError,
    ServerError: BeaconError,
    AuthenticationError: ServerError,
    ConflictError: ServerError,
    BackoffError: ServerError,
    ServiceEndOfLife: ServerError,
    ProtocolViolation: BeaconError,
    ClientUpgradeRequired: ProtocolViolation,
    SetupRaceError: ProtocolViolation,
    TrustError: BeaconError,
    RecordIntegrityError: TrustError,
    KeyMismatchError: TrustError,
}


ALL: list[type[BeaconError]] = [BeaconError, *TREE]


@pytest.mark.parametrize(("error", "parent"), TREE.items(), ids=[e.__name__ for e in TREE])
def test_each_error_sits_under_its_documented_parent(
    error: type[BeaconError], parent: type[BeaconError]
) -> None:
    assert error.__bases__[0] is parent


def test_the_tree_covers_every_exported_error() -> None:
    exported = {
        getattr(beacon, name)
        for name in beacon.__all__
        if isinstance(getattr(beacon, name), type)
        and issubclass(getattr(beacon, name), BaseException)
    }
    assert exported == {BeaconError, *TREE}


def test_the_module_docstring_draws_every_error() -> None:
    doc = beacon._errors.__doc__ or ""
    for error in ALL:
        assert error.__name__ in doc


def test_usage_errors_are_value_errors_too() -> None:
    assert issubclass(UsageError, ValueError)
    assert issubclass(ChartError, ValueError)


def test_kinds_are_distinct_stable_names() -> None:
    kinds = [error.kind for error in ALL]
    assert len(set(kinds)) == len(kinds)
    assert RecordIntegrityError.kind == "record_integrity"
    assert BackoffError.kind == "backoff"


def test_server_error_carries_status_url_retry_after_and_body() -> None:
    error = ServerError("refused", status=409, url="https://n/1.5/1", retry_after=10.0, body="0")
    assert (error.status, error.url, error.retry_after, error.body) == (
        409,
        "https://n/1.5/1",
        10.0,
        "0",
    )
    assert str(error) == "refused"
    bare = ServerError("refused")
    assert (bare.status, bare.url, bare.retry_after, bare.body) == (None, None, None, None)


def test_authentication_and_conflict_errors_carry_the_server_context() -> None:
    assert AuthenticationError("401", status=401).status == 401
    assert ConflictError("412", status=412, url="u").url == "u"


def test_backoff_error_carries_until_and_the_server_context() -> None:
    error = BackoffError("busy", until=1_700_000_100.0, status=503, retry_after=100.0)
    assert (error.until, error.status, error.retry_after) == (1_700_000_100.0, 503, 100.0)
    with pytest.raises(TypeError):
        BackoffError("busy")  # type: ignore[call-arg]


def test_transport_errors_carry_the_url() -> None:
    assert TransportError("reset", url="https://n").url == "https://n"
    assert TransportTimeout("slow").url is None


def test_client_upgrade_required_carries_the_storage_version() -> None:
    error = ClientUpgradeRequired("too new", storage_version=6)
    assert error.storage_version == 6
    assert isinstance(error, ProtocolViolation)


def test_chart_errors_carry_findings_and_unhandled_events_their_configuration() -> None:
    assert ChartError("bad chart", findings=("a", "b")).findings == ("a", "b")
    assert ChartError("bad chart").findings == ()
    error = UnhandledEvent("nobody takes it", event="ok", configuration=("token", "fresh"))
    assert (error.event, error.configuration) == ("ok", ("token", "fresh"))


def test_context_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        ServerError("refused", 500)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ClientUpgradeRequired("too new", 6)  # type: ignore[call-arg]


def test_every_error_has_a_docstring() -> None:
    assert all(error.__doc__ for error in ALL)
