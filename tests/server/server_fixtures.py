"""Helpers for the embedded service tests: a settable clock, a service, a signed-in user."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from beacon._crypto import key_id
from beacon._hawk import HawkAuth
from beacon.server import Account, EmbeddedService

START = 1_700_000_000.0
ADMIN_SECRET = "test-admin-secret"


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def counter_rng() -> Any:
    """Deterministic 'randomness' so account uids and token salts repeat run after run."""
    state = {"n": 0}

    def rng(size: int) -> bytes:
        state["n"] += 1
        out = b""
        while len(out) < size:
            out += hashlib.sha256(f"{state['n']}:{len(out)}".encode()).digest()
        return out[:size]

    return rng


def kb_for(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


@dataclass
class User:
    """An account, its kB, a token and a Hawk-signing client for its storage."""

    svc: EmbeddedService
    clock: Clock
    account: Account
    kb: bytes
    token: dict[str, Any] = field(default_factory=dict)
    http: httpx.Client = field(init=False)
    nonce_counter: int = 0

    def __post_init__(self) -> None:
        self.http = httpx.Client(transport=self.svc.transport())

    def token_request(
        self,
        *,
        kb: bytes | None = None,
        keys_changed_at: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        kca = self.account.keys_changed_at if keys_changed_at is None else keys_changed_at
        sent = {
            "Authorization": f"Bearer {self.account.access_token}",
            "X-KeyID": key_id(kb or self.kb, kca),
            **(headers or {}),
        }
        return self.http.get(self.svc.token_server_url, headers=sent)

    def fetch_token(self, **kwargs: Any) -> dict[str, Any]:
        response = self.token_request(**kwargs)
        assert response.status_code == 200, response.text
        self.token = response.json()
        return self.token

    def nonce(self) -> str:
        self.nonce_counter += 1
        return f"n{self.nonce_counter}"

    def auth(self) -> HawkAuth:
        return HawkAuth(self.token["id"], self.token["key"], clock=self.clock, nonce=self.nonce)

    def url(self, path: str) -> str:
        return str(self.token["api_endpoint"]) + path

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, self.url(path), auth=self.auth(), **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def make_user(svc: EmbeddedService, clock: Clock, label: str = "alice") -> User:
    user = User(svc, clock, svc.create_account(), kb_for(label))
    user.fetch_token()
    return user
