"""Injected answers: the fault vocabulary the embedded service and ``beacon proxy`` share (pure).

Both put the same faults in front of real Sync 1.5 traffic: the embedded service in front of
its own token server and storage nodes, the proxy in front of any deployment. This module
holds what they share, so the two speak one vocabulary with one set of argument rules:

* :class:`FaultQueue`: injected answers and headers for the next requests, consumed in
  arrival order (each rule counts down; ``path_contains`` restricts which requests match,
  ``methods`` which methods). Thread-safe.
* :class:`InjectedAnswers`: the faults every injector offers, as methods with checked
  arguments (:class:`~beacon.UsageError` on bad ones):

  ``fail_next(count=1, *, path_contains=None, status=503, retry_after=10)``
      The next ``count`` matching requests are answered ``status`` (a 4xx or 5xx: 503 +
      ``Retry-After`` by default, 401 for an injected token refusal) and go no further.
  ``backoff_next(count=1, *, seconds=60, header="X-Weave-Backoff", path_contains=None)``
      The next ``count`` matching responses carry ``header: seconds`` (``X-Weave-Backoff``,
      ``Backoff`` or ``X-Backoff``); the requests are served normally.
  ``alert_next(count=1, *, code="soft-eol", message=..., url=..., path_contains=None)``
      ``X-Weave-Alert`` (docs/protocol.md §3.9): ``soft-eol`` adds the JSON alert to the next
      ``count`` responses; ``hard-eol`` answers them 513 with it (service decommissioned).
  ``clear()``
      Drop every pending injected answer and header.

* :class:`RequestLog` keeps the last requests (:class:`LoggedRequest`: method, path without
  query, status, clock time, whether the answer was injected); never headers, bodies or
  query strings.
* :func:`error_answer` renders an injected refusal: a bare ``0`` body on storage paths
  (§3.10), a Cornice body elsewhere (§1.6), plus its headers.
* :func:`admin_refusal` and :func:`call_fault` are the admin API's shape (``POST
  /__admin__/faults/<name>`` with a JSON object of keyword arguments → 200 ``{"result": ...}``,
  400 on bad arguments, 404 for an unknown fault; ``Authorization: Bearer <admin secret>``).

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from beacon._errors import UsageError
from beacon._protocol import BACKOFF_HEADERS as _PROTOCOL_BACKOFF_HEADERS

__all__ = [
    "ALERT_CODES",
    "BACKOFF_HEADERS",
    "FaultQueue",
    "InjectedAnswers",
    "LoggedRequest",
    "RequestLog",
    "Rule",
    "admin_refusal",
    "call_fault",
    "error_answer",
]

BACKOFF_HEADERS = frozenset(_PROTOCOL_BACKOFF_HEADERS)
ALERT_CODES = frozenset({"soft-eol", "hard-eol"})
#: The faults :class:`InjectedAnswers` offers over the admin API.
INJECTED_FAULTS = frozenset({"fail_next", "backoff_next", "alert_next", "clear"})


@dataclass
class Rule:
    """One injected answer or header set, for the next ``remaining`` matching requests."""

    remaining: int
    path_contains: str | None
    status: int = 503
    retry_after: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    methods: frozenset[str] | None = None

    def matches(self, method: str, path: str) -> bool:
        return (self.path_contains is None or self.path_contains in path) and (
            self.methods is None or method in self.methods
        )


class FaultQueue:
    """Injected answers and headers for the next requests (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._errors: list[Rule] = []
        self._headers: list[Rule] = []

    def add_error(
        self,
        count: int,
        *,
        path_contains: str | None,
        status: int,
        retry_after: int | None,
        headers: Mapping[str, str] | None = None,
        methods: Collection[str] | None = None,
    ) -> None:
        rule = Rule(
            count,
            path_contains,
            status,
            retry_after,
            dict(headers or {}),
            None if methods is None else frozenset(methods),
        )
        with self._lock:
            self._errors.append(rule)

    def add_headers(
        self, count: int, *, path_contains: str | None, headers: Mapping[str, str]
    ) -> None:
        with self._lock:
            self._headers.append(Rule(count, path_contains, headers=dict(headers)))

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()
            self._headers.clear()

    @staticmethod
    def _take(rules: list[Rule], method: str, path: str) -> Rule | None:
        for rule in rules:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    rules.remove(rule)
                return rule
        return None

    def take_error(self, path: str, method: str = "GET") -> Rule | None:
        """The injected answer for this request, if one matches (it is consumed)."""
        with self._lock:
            return self._take(self._errors, method, path) if self._errors else None

    def take_headers(self, path: str, method: str = "GET") -> dict[str, str]:
        """Headers to add to this request's response, possibly none: every matching header
        rule counts down once (a Backoff and an alert pending together both apply)."""
        headers: dict[str, str] = {}
        with self._lock:
            for rule in list(self._headers):
                if rule.matches(method, path):
                    headers.update(rule.headers)
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._headers.remove(rule)
        return headers


@dataclass(frozen=True)
class LoggedRequest:
    """One entry of the request log."""

    method: str
    path: str
    status: int
    time: float
    injected: bool = False


class RequestLog:
    """The last ``size`` requests, oldest first."""

    def __init__(self, size: int = 10_000) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _check_count(count: object) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError("count must be an integer >= 1")


def _check_path(path_contains: object) -> None:
    if path_contains is not None and not isinstance(path_contains, str):
        raise UsageError("path_contains must be a string or null")


class InjectedAnswers:
    """The faults every injector offers (see the module docstring), acting on ``queue``."""

    def __init__(self, queue: FaultQueue) -> None:
        self._queue = queue

    def fail_next(
        self,
        count: int = 1,
        *,
        path_contains: str | None = None,
        status: int = 503,
        retry_after: int | None = 10,
    ) -> None:
        _check_count(count)
        _check_path(path_contains)
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise UsageError("fail_next needs count >= 1 and a 4xx/5xx status")
        if retry_after is not None and (
            isinstance(retry_after, bool) or not isinstance(retry_after, int) or retry_after < 0
        ):
            raise UsageError("retry_after must be a non-negative integer or null")
        self._queue.add_error(
            count, path_contains=path_contains, status=status, retry_after=retry_after
        )

    def backoff_next(
        self,
        count: int = 1,
        *,
        seconds: int = 60,
        header: str = "X-Weave-Backoff",
        path_contains: str | None = None,
    ) -> None:
        _check_count(count)
        _check_path(path_contains)
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int)
            or seconds < 0
            or header not in BACKOFF_HEADERS
        ):
            raise UsageError(
                "backoff_next needs count >= 1, seconds >= 0 and a header in"
                f" {sorted(BACKOFF_HEADERS)}"
            )
        self._queue.add_headers(count, path_contains=path_contains, headers={header: str(seconds)})

    def alert_next(
        self,
        count: int = 1,
        *,
        code: str = "soft-eol",
        message: str = "This service will soon be discontinued.",
        url: str = "https://support.mozilla.org/",
        path_contains: str | None = None,
    ) -> None:
        _check_count(count)
        _check_path(path_contains)
        if code not in ALERT_CODES or not isinstance(message, str) or not isinstance(url, str):
            raise UsageError(f"alert_next needs a code in {sorted(ALERT_CODES)} and text fields")
        alert = {"X-Weave-Alert": json.dumps({"code": code, "message": message, "url": url})}
        if code == "hard-eol":
            self._queue.add_error(
                count, path_contains=path_contains, status=513, retry_after=None, headers=alert
            )
        else:
            self._queue.add_headers(count, path_contains=path_contains, headers=alert)

    def clear(self) -> None:
        self._queue.clear()


def _cornice(description: str) -> str:
    return json.dumps(
        {"status": "error", "errors": [{"location": "url", "name": "", "description": description}]}
    )


def error_answer(rule: Rule, *, storage: bool) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) of an injected refusal (see the module docstring)."""
    headers = dict(rule.headers)
    if rule.retry_after is not None:
        headers["Retry-After"] = str(rule.retry_after)
    if storage:
        return rule.status, headers, "0"
    description = "Unauthorized" if rule.status == 401 else "Resource is not available"
    return rule.status, headers, _cornice(description)


def admin_refusal(secret: str | None, authorization: str | None) -> tuple[int, str] | None:
    """None when ``authorization`` carries the admin secret; else (status, message)."""
    if secret is None:
        return 404, "not found"
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), secret.encode()
    ):
        return 401, "admin secret required"
    return None


def call_fault(
    target: object, names: Collection[str], name: str, body: bytes
) -> tuple[int, dict[str, Any]]:
    """Run ``target.<name>(**json body)`` for the admin API; (status, JSON answer)."""
    if name not in names:
        return 404, {"error": "unknown fault"}
    try:
        kwargs = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError):
        return 400, {"error": "the body must be a JSON object"}
    if not isinstance(kwargs, dict):
        return 400, {"error": "the body must be a JSON object"}
    method: Callable[..., Any] = getattr(target, name)
    try:
        result = method(**kwargs)
    except TypeError:
        return 400, {"error": "bad arguments"}
    except UsageError as exc:
        return 400, {"error": str(exc)}
    return 200, {"result": result}
