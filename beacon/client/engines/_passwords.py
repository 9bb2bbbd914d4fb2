"""The ``passwords`` engine (version 1): saved logins.

Record (a-s ``logins/src/sync/payload.rs``): ``hostname`` (the origin), ``formSubmitURL`` or
``httpRealm`` (exactly one), ``username``, ``password``, ``usernameField``, ``passwordField``,
``timeCreated``/``timePasswordChanged``/``timeLastUsed`` (**ms**), ``timesUsed``,
``timeLastBreachAlertDismissed``. Unknown fields are kept at the root.

Validation as a-s ``login.rs validate_and_fixup``: times that are missing, not integers or
negative become 0; a non-integer ``timesUsed`` refuses the record; the origin is normalised
(scheme://host[:port], IDN as punycode, any ``file:`` URL as ``file://``) and an empty or
unparseable one refuses it; both ``formSubmitURL`` and ``httpRealm`` → the realm is dropped,
neither → refused; NUL/CR/LF in the origin, realm, form action or field names, NUL in the
username or password, an empty password or ``usernameField == "."`` refuse it.

Merge (a-s ``sync/merge.rs``, ``update_plan.rs``): with a base (the copy last agreed with the
server, a-s's mirror) field by field; a field both sides changed goes to the later edit;
``timesUsed`` adds both sides' increments. Without a base (two-way) the login with the later
``timePasswordChanged`` wins. A new remote login that duplicates a never-synced local one
(same origin, realm and username, and a compatible form action, a-s ``find_dupe_login``) is
merged into the remote id. A tombstone deletes the login unless our pending edit is later
(beacon keeps a local edit that a-s would lose to any tombstone). The password never appears
in a repr or a report.
"""

from __future__ import annotations

from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from beacon._errors import UsageError
from beacon.client.engines._base import Incoming, Local, Resolution, TypedEngine
from beacon.client.engines._wire import (
    Refused,
    Wire,
    clamp_ms,
    lenient_int,
    local_model,
    note_fix,
    three_way,
)

__all__ = ["Login", "PasswordsEngine", "normalize_origin"]

#: Sortindex of live logins and of tombstones (a-s ``sync/engine.rs``).
LIVE_SORTINDEX = 1
TOMBSTONE_SORTINDEX = 5_000_000
_DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}


def normalize_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL (a-s origin rules), or None when it has none."""
    if not isinstance(url, str) or not url:
        return None
    if url.lower().startswith("file:"):
        return "file://"
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if not scheme or not host or not scheme.isascii():
        return None
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _no_controls(value: str | None, what: str, chars: str = "\x00\r\n") -> None:
    if value is not None and any(c in value for c in chars):
        raise ValueError(f"{what} holds a control character")


class Login(Wire):
    """A saved login (see the module docstring); ``password`` is never shown in a repr."""

    id: str
    hostname: str
    formSubmitURL: str | None = None
    httpRealm: str | None = None
    username: str = ""
    password: str = Field(repr=False)
    usernameField: str = ""
    passwordField: str = ""
    timeCreated: int = 0
    timePasswordChanged: int = 0
    timeLastUsed: int = 0
    timesUsed: int = 0
    timeLastBreachAlertDismissed: int | None = None

    @field_validator("timeCreated", "timePasswordChanged", "timeLastUsed", mode="before")
    @classmethod
    def _times(cls, value: Any, info: ValidationInfo) -> int:
        return clamp_ms(value, info, info.field_name or "time")

    @field_validator("timeLastBreachAlertDismissed", mode="before")
    @classmethod
    def _breach(cls, value: Any, info: ValidationInfo) -> int | None:
        number = lenient_int(value)
        if value is not None and (number is None or number < 0 or number != value):
            note_fix(info, "timeLastBreachAlertDismissed")
            return None if number is None or number < 0 else number
        return number

    @field_validator("hostname", mode="before")
    @classmethod
    def _origin(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ValueError("hostname is empty")
        _no_controls(value, "hostname")
        origin = normalize_origin(value)
        if origin is None:
            raise ValueError("hostname is not an origin")
        return origin

    @field_validator("formSubmitURL", mode="before")
    @classmethod
    def _form_action(cls, value: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        _no_controls(value, "formSubmitURL")
        if value in ("", "."):
            return ""
        if value.lower().startswith("javascript:"):
            return value
        return normalize_origin(value) or value  # unparseable form actions are kept as-is

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Self:
        if self.formSubmitURL is not None and self.httpRealm is not None:
            note_fix(info, "httpRealm")
            self.httpRealm = None
        if self.formSubmitURL is None and self.httpRealm is None:
            raise ValueError("neither formSubmitURL nor httpRealm")
        _no_controls(self.httpRealm, "httpRealm")
        _no_controls(self.usernameField, "usernameField")
        _no_controls(self.passwordField, "passwordField")
        _no_controls(self.username, "username", "\x00")
        _no_controls(self.password, "password", "\x00")
        if self.usernameField == ".":
            raise ValueError("usernameField is '.'")
        if not self.password:
            raise ValueError("password is empty")
        if self.formSubmitURL is None and (self.usernameField or self.passwordField):
            note_fix(info, "usernameField")
            self.usernameField = self.passwordField = ""
        return self

    def same_login(self, other: Login) -> bool:
        """a-s's incoming dupe rule (``find_dupe_login``): ``other`` is this login."""
        if (self.hostname, self.httpRealm, self.username) != (
            other.hostname,
            other.httpRealm,
            other.username,
        ):
            return False
        mine, theirs = self.formSubmitURL, other.formSubmitURL
        if mine is None or theirs is None:
            return mine == theirs
        try:
            netloc = urlsplit(theirs).netloc
        except ValueError:
            netloc = ""
        if netloc:
            return mine == "" or netloc in mine
        return mine == theirs


class PasswordsEngine(TypedEngine[Login]):
    """The ``passwords`` collection (see the module docstring)."""

    name = "passwords"
    version = 1
    model = Login

    def add(
        self,
        hostname: str,
        username: str,
        password: str,
        *,
        form_submit_url: str | None = None,
        http_realm: str | None = None,
        username_field: str = "",
        password_field: str = "",
    ) -> Login:
        """Save a new login; refuses a duplicate of a live one (a-s ``db.rs find_dupe``)."""
        data: dict[str, Any] = {
            "hostname": hostname,
            "username": username,
            "password": password,
            "usernameField": username_field,
            "passwordField": password_field,
        }
        if form_submit_url is not None:
            data["formSubmitURL"] = form_submit_url
        if http_realm is not None:
            data["httpRealm"] = http_realm
        if form_submit_url is None and http_realm is None:
            data["formSubmitURL"] = ""
        candidate = local_model(self.model, {**data, "id": "candidate"}, now_ms=self.now_ms())
        for login in self.records():
            if (login.hostname, login.username) == (candidate.hostname, candidate.username) and (
                login.formSubmitURL == candidate.formSubmitURL
                if candidate.formSubmitURL is not None
                else login.httpRealm == candidate.httpRealm
            ):
                raise UsageError(f"a login for this origin and username exists: {login.id!r}")
        return self.put(data)

    def on_local_edit(self, old: Login | None, new: Login) -> Login:
        """Creation and password-change times, in ms, as Firefox keeps them."""
        now = self.now_ms()
        changes: dict[str, Any] = {}
        if old is None and not new.timeCreated:
            changes["timeCreated"] = now
        if (old is None and not new.timePasswordChanged) or (
            old is not None and old.password != new.password
        ):
            changes["timePasswordChanged"] = now
        return new.model_copy(update=changes) if changes else new

    def find_dupe(self, value: Login) -> str | None:
        for login in self.records():
            if login.same_login(value):
                return login.id
        return None

    def merge(self, local: Local[Login] | None, incoming: Incoming[Login]) -> Resolution[Login]:
        ours_later = local is not None and local.changed and local.edited > incoming.edited
        theirs = incoming.value
        if theirs is None:
            if local is not None and local.value is not None and ours_later:
                return self.keep(local)
            return Resolution(None, False, incoming.edited)
        if local is None or local.value is None or not local.changed:
            if local is not None and local.value is None and ours_later:
                return self.keep(local)
            if local is not None and local.value is not None and local.id != incoming.id:
                return self._two_way(local, incoming)  # a dupe under another id
            return self.take(incoming)
        if local.base is None:
            return self._two_way(local, incoming)
        base, mine = local.base, local.value
        merged, _ = three_way(
            _data(base.to_wire()), _data(mine.to_wire()), _data(theirs.to_wire()), ours=ours_later
        )
        merged["timesUsed"] = (
            base.timesUsed
            + max(0, mine.timesUsed - base.timesUsed)
            + max(0, theirs.timesUsed - base.timesUsed)
        )
        return self._resolved({**merged, "id": incoming.id}, local, incoming)

    def _two_way(self, local: Local[Login], incoming: Incoming[Login]) -> Resolution[Login]:
        mine, theirs = local.value, incoming.value
        assert mine is not None
        assert theirs is not None
        key_m = (mine.timePasswordChanged, local.edited)
        key_t = (theirs.timePasswordChanged, incoming.edited)
        winner = mine if key_m > key_t else theirs
        data = {
            **winner.to_wire(),
            "id": incoming.id,
            "timesUsed": max(mine.timesUsed, theirs.timesUsed),
            "timeCreated": min(t for t in (mine.timeCreated, theirs.timeCreated) if t)
            if mine.timeCreated or theirs.timeCreated
            else 0,
        }
        return self._resolved(data, local, incoming)

    def _resolved(
        self, data: dict[str, Any], local: Local[Login], incoming: Incoming[Login]
    ) -> Resolution[Login]:
        try:
            merged, _ = self.decode(data)
        except Refused:  # the fields merged into no valid login: the later edit wins whole
            later = local.value if local.edited > incoming.edited else incoming.value
            assert later is not None
            merged = later.model_copy(update={"id": incoming.id})
        return Resolution(
            merged, self.differs_on_wire(merged, incoming), max(local.edited, incoming.edited)
        )

    def sortindex(self, value: Login | None) -> int:
        return LIVE_SORTINDEX if value is not None else TOMBSTONE_SORTINDEX


def _data(wire: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wire.items() if k not in ("id", "timesUsed")}
