"""The campaign's devices sign in through the account chart against the FxA stand-in, and the
account faults (expired access token, revoked session, password changed elsewhere, 429,
unverified sign-in, TOTP, blocked sign-in, email case) are steps like the others: scripted
step lists show what each does to a device, a short seeded campaign reaches every one, and the
accounts oracle fails on the behaviours it forbids."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.stateful import run_state_machine_as_test

from beacon import BackoffError, UsageError
from beacon.fxa import SignInRequired
from beacon.testing._accounts import check_account_run
from beacon.testing._campaign import _Recorder, campaign_machine, run_campaign
from beacon.testing._coverage_report import sync_chart_report
from beacon.testing._faults import ACCOUNT_RULES as ACCOUNTS
from beacon.testing._faults import CampaignStep, validate
from beacon.testing._invariants import InvariantViolation
from beacon.testing._recorder import Exchange
from beacon.testing._world import CampaignConfig, World

ACCOUNT_RULES = tuple(sorted(ACCOUNTS))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(CampaignConfig(seed=3, engines=("passwords",), accounts=True), tmp_path)
    yield w
    w.close()


def _apply(world: World, rule: str, **args: Any) -> None:
    world.apply(CampaignStep(rule, args))


def _fxa_requests(world: World) -> int:
    return sum(e.path.startswith("/fxa/") for e in world.svc.faults.request_log())


def _connect(world: World) -> None:
    for index in range(len(world.devices)):
        _apply(world, "sync", device=index)


def test_devices_sign_in_through_the_account_chart_and_take_its_access_tokens(
    world: World,
) -> None:
    device = world.devices[0]
    assert device.fxa is not None
    assert device.fxa.status == "married"
    assert device.fxa.kb == world.kb  # kB came from the password route, not from the world
    assert world.events["sign_in:married"] == 2
    _connect(world)
    assert device.client.last_result is not None
    assert device.client.last_result.outcome == "ok"


def test_an_access_token_expiring_mid_sync_costs_one_refresh_and_the_sync_succeeds(
    world: World,
) -> None:
    _connect(world)
    _apply(world, "edit", device=0, engine="passwords", record="r0", value=1)
    # The stand-in expires the OAuth access token the account still thinks valid, and the
    # storage token dies too: the upload meets a 401, the token server refuses the access
    # token, the token chart refreshes it once through the account chart.
    _apply(world, "fxa_expire_access_token")
    _apply(world, "expire_token")
    _apply(world, "sync", device=0)

    result = world.devices[0].client.last_result
    assert result is not None
    assert result.outcome == "ok"
    assert result.states.count("token:refreshing_credentials") == 1
    assert result.engines["passwords"]["uploaded"] == 1
    assert world.events["refresh"] == 1
    _apply(world, "settle")


def test_a_password_changed_elsewhere_doghouses_the_device_until_the_user_signs_in_again(
    world: World,
) -> None:
    _connect(world)
    _apply(world, "fxa_password_changed_elsewhere", password=1)
    _apply(world, "expire_token")
    _apply(world, "edit", device=0, engine="passwords", record="r1", value=2)
    device = world.devices[0]
    assert device.fxa is not None
    logged = len(world.svc.faults.request_log())

    met = world._sync(device)  # meets the doghouse: one clear error
    assert isinstance(met, SignInRequired)
    assert str(met).startswith("sign in again")
    assert device.fxa.status == "doghouse"
    assert world.events["doghouse_run"] == 1
    # The next runs send nothing (the oracle checks every run from the doghouse): inside the
    # pause the session chart keeps after an authentication failure they say "back off",
    # after it the account's own error again.
    paused = world._sync(device)
    assert isinstance(paused, BackoffError)
    _apply(world, "advance_clock", seconds=3700)
    again = world._sync(device)
    assert isinstance(again, SignInRequired)
    assert world.events["doghouse_run"] == 3
    stored = [
        (e.method, e.path)
        for e in world.svc.faults.request_log()[logged:]
        if e.method in ("POST", "PUT", "DELETE") and e.path.startswith("/node/") and e.status < 400
    ]
    assert stored == []  # nothing reached storage once the password had changed

    _apply(world, "sign_in_again", device=0, codes="now")
    assert device.fxa.status == "married"
    _apply(world, "settle")  # both devices converge, the doghoused edit included
    assert world.devices[1].engines["passwords"].get("r1") == {"id": "r1", "value": "d0v2"}


def test_a_revoked_session_alone_leaves_the_device_syncing(world: World) -> None:
    _connect(world)
    _apply(world, "fxa_revoke_session")
    _apply(world, "fxa_expire_access_token")
    _apply(world, "expire_token")
    _apply(world, "edit", device=1, engine="passwords", record="r0", value=3)
    _apply(world, "sync", device=1)
    device = world.devices[1]
    assert device.fxa is not None
    assert device.fxa.status == "married"
    assert device.client.last_result is not None
    assert device.client.last_result.outcome == "ok"


def test_a_429_from_the_accounts_server_is_honoured_across_a_process_restart(
    world: World,
) -> None:
    _connect(world)
    _apply(world, "fxa_throttle", count=1, retry_after=60, path="oauth/token")
    _apply(world, "fxa_expire_access_token")
    _apply(world, "expire_token")
    _apply(world, "edit", device=0, engine="passwords", record="r0", value=4)
    _apply(world, "sync", device=0)  # the refresh meets the 429
    device = world.devices[0]
    assert device.fxa_until > world.clock()
    state = device.fxa.keyring.load() if device.fxa is not None else None
    assert state is not None
    assert state.backoff_until == pytest.approx(device.fxa_until)
    before = _fxa_requests(world)
    _apply(world, "crash", device=0, at=1)  # a new process, the same keyring
    _apply(world, "sync", device=0)  # inside the window: no FxA request (the oracle checks)
    assert _fxa_requests(world) == before
    _apply(world, "settle")  # after the window the refresh goes through
    assert world.devices[1].engines["passwords"].get("r0") == {"id": "r0", "value": "d0v4"}


@pytest.mark.parametrize("codes", ["now", "later"])
@pytest.mark.parametrize(
    "fault", ["fxa_unverified", "fxa_require_totp", "fxa_block_login", "fxa_email_case"]
)
def test_sign_in_again_gets_past_each_sign_in_fault(world: World, fault: str, codes: str) -> None:
    _connect(world)
    _apply(world, fault)
    _apply(world, "sign_in_again", device=1, codes=codes)
    device = world.devices[1]
    assert device.fxa is not None
    assert device.fxa.last is not None
    assert device.fxa.last.outcome == "married"
    assert device.fxa.status == "married"
    _apply(world, "edit", device=1, engine="passwords", record="r2", value=5)
    _apply(world, "settle")
    assert device.fxa.status == "married"
    assert world.devices[0].engines["passwords"].get("r2") == {"id": "r2", "value": "d1v5"}


def test_a_password_reset_signs_every_device_in_again_under_the_new_kb(world: World) -> None:
    _connect(world)
    old = world.kb
    _apply(world, "password_reset")
    assert world.kb != old
    assert all(d.fxa is not None and d.fxa.kb == world.kb for d in world.devices)
    _apply(world, "edit", device=0, engine="passwords", record="r0", value=6)
    _apply(world, "settle")


def test_a_sign_in_honours_a_429_met_while_destroying_the_replaced_tokens(world: World) -> None:
    _connect(world)
    _apply(world, "fxa_throttle", count=1, retry_after=60, path="oauth/destroy")
    logged = len(world.svc.faults.request_log())
    _apply(world, "sign_in_again", device=0, codes="now")
    answers = [e.status for e in world.svc.faults.request_log()[logged:]]
    # The old tokens are destroyed once the new login succeeded; the first destroy is
    # refused for 60 s, and nothing more goes out inside that window.
    assert 429 in answers
    assert answers[answers.index(429) + 1 :] == []
    assert all(status == 200 for status in answers[: answers.index(429)])


def test_a_sign_in_stopped_at_the_unblock_prompt_keeps_the_married_account_usable(
    world: World,
) -> None:
    _connect(world)
    _apply(world, "fxa_block_login")
    device = world.devices[1]
    assert device.fxa is not None
    assert world.user is not None
    stopped = device.fxa.account.sign_in(world.user.email, world.user.password)
    assert stopped.outcome == "verification_required"
    assert device.fxa.status == "married"
    assert device.fxa.account.resume(refresh=True).outcome == "married"


def test_the_account_steps_are_validated_by_the_catalogue() -> None:
    validate(CampaignStep("fxa_throttle", {"count": 1, "retry_after": 5, "path": "oauth/token"}))
    with pytest.raises(UsageError, match="path must be one of"):
        validate(CampaignStep("fxa_throttle", {"count": 1, "retry_after": 5, "path": "x"}))
    with pytest.raises(UsageError, match="count must be"):
        validate(CampaignStep("fxa_throttle", {"count": 0, "retry_after": 5}))
    with pytest.raises(UsageError, match="codes must be one of"):
        validate(CampaignStep("sign_in_again", {"device": 0, "codes": "never"}))
    with pytest.raises(UsageError, match="password must be an integer"):
        validate(CampaignStep("fxa_password_changed_elsewhere", {"password": "hunter2"}))
    with pytest.raises(UsageError, match="expects arguments"):
        validate(CampaignStep("fxa_revoke_session", {"email": "x"}))


def test_account_faults_are_no_ops_in_a_world_without_accounts(tmp_path: Path) -> None:
    world = World(CampaignConfig(seed=1, engines=("passwords",), accounts=False), tmp_path)
    try:
        assert world.user is None
        assert world.devices[0].fxa is None
        _connect(world)
        for rule in ("fxa_expire_access_token", "fxa_revoke_session", "fxa_require_totp"):
            _apply(world, rule)
        _apply(world, "fxa_password_changed_elsewhere", password=2)
        _apply(world, "sign_in_again", device=0, codes="now")
        _apply(world, "settle")
        assert world.events["fxa_fault"] == 0
    finally:
        world.close()


# -- the oracle can fail ---------------------------------------------------------------------


def _ex(method: str, path: str, status: int, *, at: float = 10.0) -> Exchange:
    return Exchange(0, 1, at, method, f"http://beacon.test{path}", status=status)


STORAGE_POST = "/node/1/1.5/1/storage/passwords"
REFRESH = "/fxa/v1/oauth/token"


@pytest.mark.parametrize(
    ("run", "before", "after", "error", "until", "invariant"),
    [
        # A doghoused device that still talks to storage.
        ([_ex("POST", STORAGE_POST, 200)], "doghouse", "doghouse", None, 0.0, "doghouse"),
        # A doghoused device whose run ends without the account's error.
        ([], "doghouse", "doghouse", None, 0.0, "doghouse"),
        # The doghouse with no refusal from FxA.
        (
            [_ex("GET", "/1.0/sync/1.5", 401)],
            "married",
            "doghouse",
            "sir",
            0.0,
            "doghouse_justified",
        ),
        # A write after FxA refused the refresh token.
        (
            [_ex("POST", REFRESH, 400), _ex("POST", STORAGE_POST, 200)],
            "married",
            "doghouse",
            "sir",
            0.0,
            "doghouse",
        ),
        # An FxA request inside the Retry-After window.
        ([_ex("POST", REFRESH, 200, at=10.0)], "married", "married", None, 20.0, "fxa_backoff"),
    ],
)
def test_the_accounts_oracle_refuses_what_it_forbids(
    run: list[Exchange],
    before: str,
    after: str,
    error: str | None,
    until: float,
    invariant: str,
) -> None:
    raised = SignInRequired("sign in again", reason="test") if error else None
    with pytest.raises(InvariantViolation) as caught:
        check_account_run(
            run, device=0, before=before, after=after, error=raised, trace=None, fxa_until=until
        )
    assert caught.value.invariant == invariant


def test_the_accounts_oracle_accepts_a_justified_doghouse() -> None:
    check_account_run(
        [_ex("POST", STORAGE_POST, 401), _ex("POST", REFRESH, 400)],
        device=0,
        before="married",
        after="doghouse",
        error=SignInRequired("sign in again", reason="test"),
        trace=None,
        fxa_until=0.0,
    )


# -- the campaign reaches them ---------------------------------------------------------------


class _Counting(_Recorder):
    """Counts each example's applied rules and the world's account events."""

    rules: collections.Counter[str]
    events: collections.Counter[str]

    def finish(self, world: World) -> None:
        super().finish(world)
        self.rules.update(step.rule for step in world.steps)
        self.events.update(world.events)


def test_a_short_seeded_campaign_reaches_every_account_fault() -> None:
    config = CampaignConfig(
        seed=0,
        accounts=True,
        engines=("passwords",),
        rules=("edit", "sync", "expire_token", *ACCOUNT_RULES),
    )
    recorder = _Counting(config, sync_chart_report())
    recorder.rules, recorder.events = collections.Counter(), collections.Counter()
    machine = hypothesis_seed(config.seed)(campaign_machine(config, recorder))
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            database=None,
            phases=(Phase.generate,),
            derandomize=True,
            verbosity=Verbosity.quiet,
            suppress_health_check=list(HealthCheck),
        ),
    )
    assert recorder.failure is None
    missing = [rule for rule in ACCOUNT_RULES if recorder.rules[rule] == 0]
    assert missing == []
    # What they did: refreshed tokens, doghoused runs, sign-ins that stopped or went through.
    events = recorder.events
    assert events["refresh"] > 0, events
    assert events["doghouse_run"] > 0, events
    assert events["sign_in:married"] > 2 * recorder.examples, events


def test_the_default_campaign_keeps_fixed_tokens_and_draws_no_account_rule() -> None:
    default = CampaignConfig()
    assert not default.accounts
    assert not any(default.enabled(rule) for rule in ACCOUNT_RULES)
    assert all(CampaignConfig(accounts=True).enabled(rule) for rule in ACCOUNT_RULES)
    assert default.enabled("sync")


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_a_larger_campaign_with_accounts_keeps_every_invariant() -> None:
    """``make model``: the whole vocabulary, devices signed in through the account chart."""
    profile = settings.default
    assert profile is not None
    result = run_campaign(
        examples=profile.max_examples,
        steps=25,
        seed=11,
        config=CampaignConfig(accounts=True),
        parent=profile,
        shrink_runs=300,
    )
    assert result.passed, result.failure and result.failure.failure


def test_a_refused_token_request_allows_one_more_fetch_in_the_run_and_no_more() -> None:
    from beacon.testing._invariants import BackoffWindows, check_run

    def fetches(*statuses: int) -> list[Exchange]:
        return [_ex("GET", "/1.0/sync/1.5", s, at=1.0 + i) for i, s in enumerate(statuses)]

    # A storage 401 re-fetches the token, whose refusal the token chart answers with one
    # refresh and one more fetch: three requests, one of them refused.
    check_run(fetches(200, 401, 200), windows=BackoffWindows(), rejected=set(), engines=1)
    with pytest.raises(InvariantViolation) as caught:
        check_run(fetches(200, 401, 200, 200), windows=BackoffWindows(), rejected=set(), engines=1)
    assert caught.value.invariant == "token_fetches"


def test_a_run_killed_after_meeting_the_doghouse_raised_nothing_and_that_is_no_violation() -> None:
    check_account_run(
        [_ex("POST", REFRESH, 400)],
        device=0,
        before="married",
        after="doghouse",
        error=None,
        trace=None,
        fxa_until=0.0,
        crashed=True,
    )
    with pytest.raises(InvariantViolation):
        check_account_run(
            [_ex("POST", REFRESH, 400), _ex("POST", STORAGE_POST, 200)],
            device=0,
            before="married",
            after="doghouse",
            error=None,
            trace=None,
            fxa_until=0.0,
            crashed=True,
        )


def test_a_replay_file_keeps_the_world_it_ran_in() -> None:
    from beacon.testing import CampaignStep, ReplayFile, parse_replay

    recorded = ReplayFile(
        seed=3, devices=2, engines=("passwords",), steps=(CampaignStep("settle"),),
        accounts=True, typed=True,
    )  # fmt: skip
    again = parse_replay(recorded.to_json())
    assert (again.accounts, again.typed) == (True, True)
    older = recorded.to_json()
    del older["accounts"], older["typed"]  # files written before these fields
    assert (parse_replay(older).accounts, parse_replay(older).typed) == (False, False)
    older["typed"] = "yes"
    with pytest.raises(UsageError, match="'typed' must be true or false"):
        parse_replay(older)


def test_explore_accounts_and_typed_reach_the_campaigns_world(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import beacon.testing
    from beacon.cli import main

    seen: list[object] = []
    real = beacon.testing.run_campaign

    def spy(**kwargs: object) -> object:
        seen.append(kwargs.get("config"))
        return real(**{**kwargs, "examples": 1, "steps": 2})  # type: ignore[arg-type]

    monkeypatch.setattr(beacon.testing, "run_campaign", spy)
    assert main(["explore", "--accounts", "--typed", "--json"]) == 0
    (config,) = seen
    assert isinstance(config, beacon.testing.CampaignConfig)
    assert (config.accounts, config.typed) == (True, True)
