"""Nothing secret in traces, reprs, errors or the state's repr (grep the trace JSON)."""

from __future__ import annotations

import json

from beacon._onepw import PasswordKeys
from tests.fxa.conftest import EMAIL, PASSWORD, FxAWorld


def _secrets(world: FxAWorld) -> list[str]:
    state = world.store.load()
    assert state is not None
    found = [PASSWORD]
    for value in (
        state.session_token,
        state.refresh_token,
        state.access_token,
        state.kb,
        state.ksync,
    ):
        if value:
            found.append(value)
    keys = PasswordKeys.v1(PASSWORD, EMAIL)
    found += [keys.auth_pw_hex, keys.unwrap_b_key.hex()]
    return found


def test_traces_reprs_and_errors_hold_no_secret(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    fxa_world.svc.faults.fxa.require_totp(EMAIL)
    account = fxa_world.account()
    code = fxa_world.svc.faults.fxa.codes(EMAIL)["totp_code"]
    result = account.sign_in(EMAIL, PASSWORD, codes=lambda kind: code)
    assert result.outcome == "married"
    creds = account.credentials()
    fxa_world.clock.advance(7 * 3600)
    refreshed = account.credentials()
    fxa_world.svc.faults.fxa.change_password(EMAIL, "another one")
    fxa_world.clock.advance(7 * 3600)
    doghouse = account.continue_sign_in(lambda kind: None)
    secrets = [PASSWORD, creds.access_token, refreshed.access_token]
    assert creds.kb is not None
    secrets += [creds.kb.hex(), creds.ksync.hex()]
    shown = "\n".join(
        [
            result.trace.dumps(),
            doghouse.trace.dumps(),
            repr(result),
            repr(doghouse),
            repr(creds),
            repr(account),
            repr(fxa_world.store.load()),
            str(doghouse.error),
            repr(doghouse.error),
        ]
    )
    assert doghouse.outcome == "doghouse"
    for secret in secrets:
        assert secret not in shown


def test_a_married_state_repr_hides_every_token_and_key(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    state = fxa_world.store.load()
    assert state is not None
    shown = repr(state) + json.dumps(account.status())
    for secret in _secrets(fxa_world):
        assert secret not in shown
