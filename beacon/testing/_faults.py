"""The campaign's vocabulary: every step a run can take, as plain JSON-able data.

Contract:

* A :class:`CampaignStep` is a rule name plus keyword arguments made of ``int``, ``str``, ``float``
  and ``None`` only, so a step round-trips through JSON unchanged (replay files).
* :data:`RULES` is the catalogue: for each rule, its kind (``"device"`` work, a ``"fault"`` by
  the service or by another device, the ``"clock"``, or a ``"check"``) and its parameters.
  :func:`validate` refuses a step the catalogue does not describe, naming the step, so a
  hand-edited replay file fails with a clear :class:`~beacon.UsageError`, never a ``KeyError``
  deep inside the harness.
* Nothing here performs a step; :mod:`beacon.testing._world` does. This module has no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from beacon._errors import UsageError

__all__ = [
    "ACCOUNT_RULES",
    "FXA_PATHS",
    "RULES",
    "SIGN_IN_CODES",
    "BackoffHeader",
    "CampaignStep",
    "NetworkFault",
    "RuleSpec",
    "validate",
]

Scalar = int | str | float | None
Kind = Literal["device", "fault", "clock", "check"]

#: The transport failures a device's wrapping transport can raise (``network_error``).
#: ``lost_response`` lets the request reach the service and then loses the answer.
NetworkFault = Literal["connect", "read", "timeout", "lost_response"]
NETWORK_FAULTS: tuple[str, ...] = ("connect", "read", "timeout", "lost_response")

#: How ``sign_in_again`` answers a verification prompt: at once, or in a second run.
SIGN_IN_CODES: tuple[str, ...] = ("now", "later")

#: The FxA paths ``fxa_throttle`` may target (None: every FxA request).
FXA_PATHS: tuple[str | None, ...] = (None, "oauth/token", "account/login", "oauth/destroy")

#: The headers the service can add to its answers to ask for a pause.
BackoffHeader = Literal["X-Weave-Backoff", "Backoff"]
BACKOFF_HEADERS: tuple[str, ...] = ("X-Weave-Backoff", "Backoff")


@dataclass(frozen=True)
class RuleSpec:
    """One rule of the catalogue: its kind, its parameters and what it models."""

    kind: Kind
    params: tuple[str, ...]
    doc: str
    optional: tuple[str, ...] = ()


#: Every step a campaign or a replay file may contain. Parameters named ``device`` are
#: device indexes (0, 1, ...); ``engine`` names one of the campaign's engines.
RULES: Mapping[str, RuleSpec] = {
    # -- work on a device --------------------------------------------------------------------
    "edit": RuleSpec("device", ("device", "engine", "record", "value"), "a local put"),
    "delete": RuleSpec("device", ("device", "engine", "record"), "a local delete"),
    "sync": RuleSpec("device", ("device",), "one sync run"),
    "crash": RuleSpec(
        "device",
        ("device", "at"),
        "one sync run killed after its at-th chart transition; the device restarts from "
        "its SQLite file",
    ),
    # -- the clock -----------------------------------------------------------------------------
    "advance_clock": RuleSpec("clock", ("seconds",), "the shared clock moves on"),
    # -- the service ---------------------------------------------------------------------------
    "expire_token": RuleSpec("fault", (), "every token issued so far expires"),
    "revoke_token": RuleSpec("fault", (), "every token issued so far is refused (401)"),
    "move_node": RuleSpec("fault", (), "node reassignment: the user moves to an empty node"),
    "unavailable": RuleSpec(
        "fault",
        ("count", "retry_after"),
        "the next count requests (matching path, if given) get 503 + Retry-After",
        optional=("path",),
    ),
    "unauthorized": RuleSpec(
        "fault",
        ("count",),
        "the next count requests (matching path, if given) get 401, as from a server that "
        "lost its secrets",
        optional=("path",),
    ),
    "backoff_header": RuleSpec(
        "fault", ("count", "seconds", "header"), "the next count answers carry a backoff header"
    ),
    "network_error": RuleSpec(
        "fault",
        ("device", "after", "kind"),
        "the device's transport fails its after-th next request (httpx error or lost answer)",
    ),
    "race": RuleSpec(
        "fault",
        ("device", "engine"),
        "the device edits a record and syncs; another device writes to the same collection "
        "just before the upload (412)",
    ),
    "password_reset": RuleSpec(
        "fault", (), "kB changes; every device signs in again with the new kB"
    ),
    # -- the Firefox Accounts stand-in (no-ops unless the world signs in through accounts) --
    # The user's answer to the account faults; a "fault" by kind so the campaign draws it
    # with them (the campaign's device rules are edit, delete, sync and crash).
    "sign_in_again": RuleSpec(
        "fault",
        ("device", "codes"),
        "the user signs the device in again with the current password; codes: 'now' answers"
        " a verification prompt at once, 'later' lets the sign-in stop and finishes it in a"
        " second run",
    ),
    "fxa_expire_access_token": RuleSpec(
        "fault", (), "every OAuth access token issued so far counts as expired at the token server"
    ),
    "fxa_revoke_session": RuleSpec(
        "fault", (), "every FxA session is destroyed (refresh and access tokens survive)"
    ),
    "fxa_password_changed_elsewhere": RuleSpec(
        "fault",
        ("password",),
        "the password changes on another device (kB kept): sessions, refresh and access tokens"
        " revoked; each device must end in the doghouse until the user signs in again",
    ),
    "fxa_throttle": RuleSpec(
        "fault",
        ("count", "retry_after"),
        "the next count FxA requests (matching path, if given) get 429 + Retry-After",
        optional=("path",),
    ),
    "fxa_unverified": RuleSpec(
        "fault", (), "the next sign-in gets an unverified session (an emailed code verifies it)"
    ),
    "fxa_require_totp": RuleSpec(
        "fault", (), "the account turns on two-step authentication: sign-ins need a TOTP code"
    ),
    "fxa_block_login": RuleSpec(
        "fault", (), "the next sign-in is blocked until it carries an emailed unblock code"
    ),
    "fxa_email_case": RuleSpec(
        "fault",
        (),
        "the account's stored email changes case: a sign-in typed the old way meets errno 120",
    ),
    # -- another device, acting directly on storage ----------------------------------------
    "fresh_start_elsewhere": RuleSpec(
        "fault", (), "another device wipes storage, uploads new meta/global and new keys"
    ),
    "rotate_keys": RuleSpec(
        "fault",
        (),
        "another device uploads new crypto/keys (the default key, or one engine's key)",
        optional=("engine",),
    ),
    "change_sync_id": RuleSpec("fault", ("engine",), "another device resets one engine"),
    "decline_elsewhere": RuleSpec("fault", ("engine",), "another device declines an engine"),
    "enable_elsewhere": RuleSpec("fault", ("engine",), "another device re-enables an engine"),
    "storage_version": RuleSpec(
        "fault", ("version",), "another client rewrites meta/global with this storageVersion"
    ),
    "delete_meta_global": RuleSpec("fault", (), "meta/global disappears"),
    "delete_crypto_keys": RuleSpec("fault", (), "crypto/keys disappears"),
    "foreign_keys": RuleSpec(
        "fault", (), "crypto/keys is replaced by keys encrypted under another kB"
    ),
    "bad_hmac": RuleSpec("fault", ("engine", "record"), "a record whose HMAC does not verify"),
    "remote_edit": RuleSpec(
        "fault", ("engine", "record", "value"), "another device uploads a record"
    ),
    "remote_delete": RuleSpec(
        "fault", ("engine", "record"), "another device uploads a deletion (tombstone)"
    ),
    # -- checks --------------------------------------------------------------------------------
    "settle": RuleSpec(
        "check",
        (),
        "a quiet period: faults cleared, each device syncs twice, then every device's records "
        "must equal the decrypted server records",
    ),
}


#: The rules that act on the Firefox account; they need a world whose devices sign in.
ACCOUNT_RULES = frozenset(
    name for name in RULES if name.startswith("fxa_") or name == "sign_in_again"
)


@dataclass(frozen=True)
class CampaignStep:
    """One step of a campaign: a rule name and its arguments (JSON scalars only)."""

    rule: str
    args: Mapping[str, Scalar] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        """The rule's kind from the catalogue."""
        return RULES[self.rule].kind

    def to_json(self) -> dict[str, Any]:
        """A JSON-able mapping, the form used in replay files."""
        return {"rule": self.rule, "args": dict(sorted(self.args.items()))}

    @classmethod
    def from_json(cls, data: object) -> CampaignStep:
        """Read a step back from :meth:`to_json`'s form; :class:`UsageError` if malformed."""
        if not isinstance(data, Mapping) or not isinstance(data.get("rule"), str):
            raise UsageError(f"a step must be an object with a 'rule' name, got {data!r}")
        args = data.get("args", {})
        if not isinstance(args, Mapping):
            raise UsageError(f"step {data['rule']!r}: 'args' must be an object")
        step = cls(str(data["rule"]), {str(k): v for k, v in args.items()})
        validate(step)
        return step

    def __str__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(self.args.items()))
        return f"{self.rule}({inner})"


def validate(
    step: CampaignStep, *, devices: int | None = None, engines: tuple[str, ...] = ()
) -> None:
    """Refuse a step the catalogue does not describe (unknown rule, missing or extra argument,
    non-scalar value, device index or engine out of range) with a :class:`UsageError`."""
    spec = RULES.get(step.rule)
    if spec is None:
        raise UsageError(f"unknown campaign step {step.rule!r}; known: {', '.join(RULES)}")
    given = set(step.args)
    missing = set(spec.params) - given
    extra = given - set(spec.params) - set(spec.optional)
    if missing or extra:
        raise UsageError(
            f"step {step}: expects arguments {list(spec.params)}"
            + (f" (optional {list(spec.optional)})" if spec.optional else "")
        )
    for name, value in step.args.items():
        if value is not None and not isinstance(value, int | str | float):
            raise UsageError(f"step {step}: argument {name!r} must be a JSON scalar")
        if isinstance(value, bool):
            raise UsageError(f"step {step}: argument {name!r} must not be a boolean")
    device = step.args.get("device")
    if (
        devices is not None
        and device is not None
        and (not isinstance(device, int) or not 0 <= device < devices)
    ):
        raise UsageError(f"step {step}: device must be an index below {devices}")
    engine = step.args.get("engine")
    if engines and engine is not None and engine not in engines:
        raise UsageError(f"step {step}: engine must be one of {list(engines)}")
    if step.rule == "network_error" and step.args["kind"] not in NETWORK_FAULTS:
        raise UsageError(f"step {step}: kind must be one of {list(NETWORK_FAULTS)}")
    if step.rule == "backoff_header" and step.args["header"] not in BACKOFF_HEADERS:
        raise UsageError(f"step {step}: header must be one of {list(BACKOFF_HEADERS)}")
    if step.rule == "sign_in_again" and step.args["codes"] not in SIGN_IN_CODES:
        raise UsageError(f"step {step}: codes must be one of {list(SIGN_IN_CODES)}")
    if step.rule == "fxa_password_changed_elsewhere" and not isinstance(step.args["password"], int):
        raise UsageError(f"step {step}: password must be an integer (which new password)")
    if step.rule == "fxa_throttle":
        count, retry_after = step.args["count"], step.args["retry_after"]
        if not isinstance(count, int) or count < 1:
            raise UsageError(f"step {step}: count must be an integer >= 1")
        if not isinstance(retry_after, int) or retry_after < 0:
            raise UsageError(f"step {step}: retry_after must be an integer >= 0")
        if step.args.get("path") not in FXA_PATHS:
            raise UsageError(f"step {step}: path must be one of {list(FXA_PATHS)}")
