"""The chart services' reprs (they appear in traces and error reports): what each serves, and
nothing of the run they hold (tokens, keys, credentials never show)."""

from __future__ import annotations

from typing import cast

from beacon.client._fresh_start import FreshStartService
from beacon.client._run import Run
from beacon.client._session_service import SessionService
from beacon.client._token_service import TokenService

TOKEN_SERVER = "https://token.example/1.0/sync/1.5"


def test_the_services_reprs_name_what_they_serve_and_nothing_of_the_run() -> None:
    run = cast(Run, object())  # the reprs must not read it
    assert (
        repr(TokenService(run, token_server_url=TOKEN_SERVER)) == f"TokenService({TOKEN_SERVER!r})"
    )
    session = SessionService(run, engines=[], token_server_url=TOKEN_SERVER)
    assert repr(session) == "SessionService(engines=[])"
    assert repr(FreshStartService(session)) == "FreshStartService()"
