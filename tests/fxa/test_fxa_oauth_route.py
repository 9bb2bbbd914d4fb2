"""The OAuth code route without a password in beacon: PKCE, keys_jwk, the scoped-key JWE."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from beacon import TrustError
from beacon._scoped_keys import oldsync_key
from beacon.client._tokenclient import TokenClient
from beacon.client._transport import Transport
from tests.fxa.conftest import EMAIL, PASSWORD, FxAWorld


class Browser:
    """A person at a browser: opens the URL, signs in on the page, copies the final address."""

    def __init__(self, world: FxAWorld, password: str = PASSWORD) -> None:
        self.http = world.svc.client()
        self.password = password
        self.opened: list[str] = []

    def __call__(self, url: str) -> str | None:
        self.opened.append(url)
        page = self.http.get(url)
        assert page.status_code == 200
        assert "<form" in page.text
        parts = urlsplit(url)
        answer = self.http.post(
            f"{parts.path}?{parts.query}",
            content=urlencode({"email": EMAIL, "password": self.password}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if answer.status_code != 302:
            return None
        return answer.headers["location"]


def test_the_code_route_yields_ksync_and_kid_that_the_token_server_accepts(
    fxa_world: FxAWorld,
) -> None:
    created = fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=True)
    browser = Browser(fxa_world)
    account = fxa_world.account()
    result = account.sign_in_oauth(browser)
    assert result.outcome == "married", result.error
    assert result.states == ("recalling", "authorizing", "exchanging", "married")
    query = parse_qs(urlsplit(browser.opened[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"]
    assert "keys_jwk" in query
    creds = account.credentials()
    assert creds.kb is None  # beacon never saw the password nor kB
    assert created.kb is not None
    expected = oldsync_key(created.kb, creds.keys_changed_at)
    assert (creds.ksync, creds.kid) == (expected.k, expected.kid)
    with Transport(transport=fxa_world.svc.transport(), clock=fxa_world.clock) as http:
        token = TokenClient(http, fxa_world.svc.token_server_url).fetch(
            creds.access_token, key_id=creds.kid
        )
    assert token.uid > 0


def test_the_code_route_refreshes_like_the_password_route(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in_oauth(Browser(fxa_world))
    first = account.credentials()
    fxa_world.clock.advance(7 * 3600)
    assert account.credentials().access_token != first.access_token


def test_without_a_redirect_the_flow_waits_and_resumes_in_a_later_run(
    fxa_world: FxAWorld,
) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    waiting = account.sign_in_oauth(None)
    assert waiting.outcome == "authorization_required"
    assert waiting.authorization_url is not None
    browser = Browser(fxa_world)
    redirect = browser(waiting.authorization_url)
    resumed = account.sign_in_oauth(lambda url: redirect)
    assert resumed.outcome == "married"


def test_a_redirect_with_another_state_is_refused(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    browser = Browser(fxa_world)

    def forged(url: str) -> str | None:
        real = browser(url)
        assert real is not None
        return real.replace("state=", "state=x")

    result = account.sign_in_oauth(forged)
    assert result.outcome == "failed"
    assert isinstance(result.error, TrustError)


def test_a_wrong_password_on_the_page_gives_no_redirect(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    result = fxa_world.account().sign_in_oauth(Browser(fxa_world, password="nope"))
    assert result.outcome == "authorization_required"


def test_a_code_cannot_be_exchanged_twice(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    waiting = account.sign_in_oauth(None)
    assert waiting.authorization_url is not None
    redirect = Browser(fxa_world)(waiting.authorization_url)
    assert account.sign_in_oauth(lambda url: redirect).outcome == "married"
    # A replayed redirect starts a new flow whose state the old redirect cannot match.
    replay = account.sign_in_oauth(lambda url: redirect)
    assert replay.outcome == "failed"


def test_a_failed_or_stale_flow_is_not_resumed(fxa_world: FxAWorld) -> None:
    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    first = account.sign_in_oauth(None).authorization_url
    assert account.sign_in_oauth(None).authorization_url == first  # resumed within the hour
    fxa_world.clock.advance(3601)
    stale = account.sign_in_oauth(None).authorization_url
    assert stale != first
    forged = account.sign_in_oauth(lambda url: "https://x.test/cb?code=c&state=forged")
    assert forged.outcome == "failed"
    assert account.sign_in_oauth(None).authorization_url not in (first, stale)


@pytest.mark.parametrize("error", ["access_denied"])
def test_a_refused_authorization_fails_clearly(fxa_world: FxAWorld, error: str) -> None:
    account = fxa_world.account()
    result = account.sign_in_oauth(lambda url: f"https://example.test/cb?error={error}")
    assert result.outcome == "failed"
    assert result.error is not None
    assert error in str(result.error)


def test_an_oauth_sign_in_replacing_a_password_account_revokes_its_tokens(
    fxa_world: FxAWorld,
) -> None:
    from beacon.client._transport import Transport
    from beacon.fxa import FxAClient, InvalidFxAToken

    fxa_world.svc.fxa.create_account(EMAIL, PASSWORD, v2=False)
    account = fxa_world.account()
    account.sign_in(EMAIL, PASSWORD)
    old = fxa_world.store.load()
    assert old is not None
    assert old.refresh_token is not None
    assert account.sign_in_oauth(Browser(fxa_world)).outcome == "married"
    with Transport(transport=fxa_world.svc.transport(), clock=fxa_world.clock) as http:
        client = FxAClient(http, fxa_world.svc.auth_server_url)
        with pytest.raises(InvalidFxAToken):
            client.refresh(old.refresh_token)
