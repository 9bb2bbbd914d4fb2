"""What the fault proxy knows and the faults it injects: ``proxy.faults``, also over its admin API.

The proxy learns from the token responses it relays: each token's Hawk key (kept in memory
only, never logged: it re-signs storage requests for the upstream), whose it is (``uid`` and
``fxa_uid``, read from the token's payload) and which storage node the token server assigned.
Users are named as the embedded service names them: by FxA uid (``fxa_uid``), or by storage
``uid``; neither given means every user the proxy has seen.

The faults, beside those of :class:`beacon._injection.InjectedAnswers` (``fail_next``: 503 +
``Retry-After`` or 401; ``backoff_next``; ``alert_next``: ``X-Weave-Alert`` and 513;
``clear``):

``expire_tokens(fxa_uid=None, *, uid=None)``
    Every token relayed so far counts as expired: storage answers 401, except
    ``GET info/collections`` (docs/protocol.md §2.4). New tokens work.
``revoke_tokens(fxa_uid=None, *, uid=None)``
    Every token relayed so far is refused (401 on storage). New tokens work.
``move_user(fxa_uid=None, *, uid=None, node=None) -> int``
    Node reassignment, by rewriting the token responses: from now on the user's
    ``api_endpoint`` names another upstream node (``node``, an index of :meth:`users`'
    ``node``; default the proxy's second node, or back to the token server's choice), and the
    old one answers 401. Returns the new node index.
``race_next(count=1, *, path_contains=None)``
    The next ``count`` matching storage writes that carry ``X-If-Unmodified-Since`` are
    answered 412, as if another device had written just before (``X-Last-Modified`` 10 ms
    past the client's value); the write does not happen.
``drop_next(count=1, *, path_contains=None)``
    The next ``count`` matching requests reach the upstream and take effect, but their answer
    is lost: the connection closes after the status line and headers (uvicorn logs each such
    unfinished answer as an error).
``skew_clock(seconds=0)``
    Make the client's clock look ``seconds`` off: Hawk ``ts`` reaches the upstream moved by
    ``seconds``, and ``X-Weave-Timestamp`` / ``X-Timestamp`` reach the client moved back by
    as much (so a client that corrects its clock from them succeeds). 0 ends it.
``users() -> list[dict]``
    The users seen: ``uid``, ``fxa_uid``, ``node`` (index), ``node_url`` and ``moved``.
``request_log()`` / ``clear_request_log()``
    Requests relayed (method, path without query, status, time, injected or not).

Unknown users, and a move with nowhere to go, raise :class:`beacon.UsageError`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from beacon._errors import UsageError
from beacon._injection import FaultQueue, InjectedAnswers, LoggedRequest, RequestLog

__all__ = ["PROXY_FAULTS", "ProxyFaults", "ProxyState", "TokenInfo"]

#: Every name the proxy's admin API accepts under ``/__admin__/faults/``.
PROXY_FAULTS = frozenset(
    {
        "fail_next",
        "backoff_next",
        "alert_next",
        "clear",
        "expire_tokens",
        "revoke_tokens",
        "move_user",
        "race_next",
        "drop_next",
        "skew_clock",
        "users",
        "clear_request_log",
    }
)
_MAX_TOKENS = 10_000
WRITES = frozenset({"POST", "PUT", "DELETE"})


@dataclass
class TokenInfo:
    """A token the proxy relayed (its key stays here: never logged, never in a repr)."""

    key: str
    uid: int
    fxa_uid: str | None
    revoked: bool = False
    expired: bool = False

    def __repr__(self) -> str:
        return f"TokenInfo(uid={self.uid})"


@dataclass
class _User:
    uid: int
    fxa_uid: str | None
    assigned: int  # the node index the token server chose
    moved_to: int | None = None

    @property
    def node(self) -> int:
        return self.assigned if self.moved_to is None else self.moved_to


class ProxyState:
    """Everything the proxy learned and every pending fault (thread-safe)."""

    def __init__(self, *, second_node: str | None, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.answers = FaultQueue()
        self.races = FaultQueue()
        self.drops = FaultQueue()
        self.log = RequestLog()
        self.skew = 0
        self.nodes: list[str] = []  # index k-1 -> upstream node base URL
        self.second_url = second_node  # registered when first needed: assigned nodes come first
        self._tokens: OrderedDict[str, TokenInfo] = OrderedDict()
        self._users: dict[int, _User] = {}

    def __repr__(self) -> str:
        return f"ProxyState(nodes={len(self.nodes)}, users={len(self._users)})"

    def node_index(self, base: str) -> int:
        """The proxy's index (1-based) for an upstream node base URL, registered on first use."""
        base = base.rstrip("/")
        with self.lock:
            if base not in self.nodes:
                self.nodes.append(base)
            return self.nodes.index(base) + 1

    def node_url(self, index: int) -> str | None:
        with self.lock:
            return self.nodes[index - 1] if 1 <= index <= len(self.nodes) else None

    def learn(self, token_id: str, key: str, *, uid: int, fxa_uid: str | None, node: int) -> int:
        """Remember a relayed token; return the node index its user's endpoint must name."""
        with self.lock:
            self._tokens[token_id] = TokenInfo(key, uid, fxa_uid)
            while len(self._tokens) > _MAX_TOKENS:
                self._tokens.popitem(last=False)
            user = self._users.get(uid)
            if user is None or user.assigned != node:
                user = self._users[uid] = _User(uid, fxa_uid, node)
            return user.node

    def token(self, token_id: str) -> TokenInfo | None:
        with self.lock:
            return self._tokens.get(token_id)

    def moved_away(self, uid: int, node: int) -> bool:
        """Whether the proxy moved ``uid`` off ``node`` (its requests there get 401)."""
        with self.lock:
            user = self._users.get(uid)
            return user is not None and user.moved_to is not None and user.node != node

    def select(self, fxa_uid: str | None, uid: int | None) -> list[_User]:
        """The users a fault names (caller holds the lock); UsageError when none."""
        if uid is not None and (isinstance(uid, bool) or not isinstance(uid, int)):
            raise UsageError("uid must be an integer")
        chosen = [
            u
            for u in self._users.values()
            if (fxa_uid is None or u.fxa_uid == fxa_uid) and (uid is None or u.uid == uid)
        ]
        if not chosen:
            raise UsageError("no such user has fetched a token through the proxy")
        return chosen

    def mark_tokens(self, users: list[_User], *, revoke: bool) -> None:
        uids = {u.uid for u in users}
        for info in self._tokens.values():
            if info.uid in uids:
                if revoke:
                    info.revoked = True
                else:
                    info.expired = True

    def users(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {
                    "uid": u.uid,
                    "fxa_uid": u.fxa_uid,
                    "node": u.node,
                    "node_url": self.nodes[u.node - 1],
                    "moved": u.moved_to is not None,
                }
                for u in self._users.values()
            ]

    def add_log(self, method: str, path: str, status: int, *, injected: bool) -> None:
        self.log.add(LoggedRequest(method, path, status, self.clock(), injected))


def _check_count(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError("count must be an integer >= 1")


class ProxyFaults(InjectedAnswers):
    """See the module docstring for every fault."""

    def __init__(self, state: ProxyState) -> None:
        super().__init__(state.answers)
        self._state = state

    def __repr__(self) -> str:
        return "ProxyFaults(...)"

    def expire_tokens(self, fxa_uid: str | None = None, *, uid: int | None = None) -> None:
        state = self._state
        with state.lock:
            state.mark_tokens(state.select(fxa_uid, uid), revoke=False)

    def revoke_tokens(self, fxa_uid: str | None = None, *, uid: int | None = None) -> None:
        state = self._state
        with state.lock:
            state.mark_tokens(state.select(fxa_uid, uid), revoke=True)

    def move_user(
        self, fxa_uid: str | None = None, *, uid: int | None = None, node: int | None = None
    ) -> int:
        state = self._state
        with state.lock:
            users = state.select(fxa_uid, uid)
            second = None if state.second_url is None else state.node_index(state.second_url)
            known = len(state.nodes)
            for user in users:
                target = node
                if target is None:
                    target = second if user.node != second else user.assigned
                if target is None or not 1 <= target <= known or target == user.node:
                    raise UsageError(
                        "nowhere to move the user: give the proxy a second node"
                        " (--second-node) or a node index other than the current one"
                    )
                user.moved_to = None if target == user.assigned else target
            return users[-1].node

    def race_next(self, count: int = 1, *, path_contains: str | None = None) -> None:
        _check_count(count)
        self._state.races.add_error(
            count, path_contains=path_contains, status=412, retry_after=None, methods=WRITES
        )

    def drop_next(self, count: int = 1, *, path_contains: str | None = None) -> None:
        _check_count(count)
        self._state.drops.add_error(
            count, path_contains=path_contains, status=200, retry_after=None
        )

    def skew_clock(self, seconds: int = 0) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise UsageError("seconds must be an integer")
        self._state.skew = seconds

    def clear(self) -> None:
        super().clear()
        self._state.races.clear()
        self._state.drops.clear()

    def users(self) -> list[dict[str, Any]]:
        return self._state.users()

    def request_log(self) -> list[LoggedRequest]:
        return self._state.log.entries()

    def clear_request_log(self) -> None:
        self._state.log.clear()
