"""The token chart's service (statecharts/token.yaml): storage tokens and node assignment.

Contract (docs/protocol.md §1; docs/anchors.md §3.6 TokenProvider, §2.6, §4 item 10):

* ``recall_token`` reads only: a persisted token still valid (its duration less
  :data:`~._tokenclient.TOKEN_SAFETY_MARGIN`) → ``fresh``; otherwise a backoff window of the
  token server still running → ``backoff`` with no request; an older token → ``expired``.
* ``fetch_token`` sends one request (Bearer + X-KeyID). A 401 → ``unauthorized``, which the
  chart answers with one ``refresh_credentials`` (the access-token callable is asked again) and
  one more fetch; 503/429 → ``backoff``, the Retry-After window persisted for the token server
  so that the next run sends nothing before it ends.
* ``check_assignment`` compares the token's ``api_endpoint`` and ``uid`` with the persisted
  assignment (iOS ``sameDestination``): a difference is a node reassignment (docs/seed-note.md,
  Invalidation). The session chart drops the old node's state; this service only tells.

The token is persisted (encrypted at rest by the store) so that a later run within its lifetime
costs no token request: a no-change run is one request (issue 5, request economy).
"""

from __future__ import annotations

from beacon._errors import AuthenticationError, BeaconError
from beacon.charts import Outcome, action, outcome
from beacon.client._run import Run, failure
from beacon.client._token_rules import recall_outcome, refresh_outcome, same_destination

__all__ = ["TokenService"]


class TokenService:
    """Actions of the token chart, over one :class:`~._run.Run`."""

    def __init__(self, run: Run, *, token_server_url: str) -> None:
        self._run = run
        self._server = token_server_url
        self._refused: AuthenticationError | None = None  # the 401 a refresh answers

    def __repr__(self) -> str:
        return f"TokenService({self._server!r})"

    @action("fresh", "expired", "missing", "backoff")
    def recall_token(self) -> Outcome:
        """Reuse the persisted token when it is still valid; no request."""
        run = self._run
        token = run.store.token(run.root)
        verdict = recall_outcome(
            token, now=run.clock(), backoff_until=run.store.backoff_until(self._server)
        )
        if verdict != "backoff":  # a backoff sends nothing and keeps nothing
            run.token = token
        return verdict

    @action("ok")
    def forget_token(self) -> str:
        """Drop the expired token (memory and store)."""
        self._run.token = None
        self._run.store.clear_token()
        return "ok"

    @action("ok", "unauthorized", "backoff", "network_error", "failed")
    def fetch_token(self) -> str:
        """One token request: ``Authorization: Bearer`` + ``X-KeyID`` (docs/protocol.md §1.2)."""
        run = self._run
        try:
            token = run.token_client.fetch(run.access_token(), key_id=run.key_id)
        except AuthenticationError as exc:
            self._refused = exc
            return failure(run, exc, backoff_key=self._server)
        except BeaconError as exc:
            return failure(run, exc, backoff_key=self._server)
        run.token = token
        return "ok"

    @action("ok", "failed")
    def refresh_credentials(self) -> Outcome:
        """Ask the access-token source once more (docs/anchors.md P15); a fixed string cannot.

        A source with ``refresh()`` (a signed-in account: the account chart runs its refresh)
        is refreshed first; a plain callable is called again by the next fetch_token; a fixed
        string has nothing new, so the run ends with the 401 that led here.
        """
        run = self._run
        if run.refresh is not None:
            try:
                run.refresh()
            except BeaconError as exc:  # the account is in the doghouse, or unreachable
                return outcome("failed", exc)
            return outcome("ok")
        return refresh_outcome(refreshable=run.refreshable, refused=self._refused)

    @action("same_node", "new_node")
    def check_assignment(self) -> str:
        """Compare the new token's uid and api_endpoint with the persisted assignment."""
        run = self._run
        token = run.token
        if token is None:  # pragma: no cover - the chart enters this state only after ok
            raise RuntimeError("check_assignment without a token")
        previous = run.store.node_assignment()
        with run.store.transaction():
            run.store.set_token(token, root=run.root)
            if previous is None:
                run.store.set_node_assignment(token.api_endpoint, token.uid)
        if same_destination(previous, token):
            return "same_node"
        run.new_assignment = True
        return "new_node"
