"""The World's account steps: the user's sign-ins and the FxA stand-in's faults.

Contract: :class:`AccountSteps` is a part of :class:`~beacon.testing._world.World` (a base
class, so ``World.apply`` finds its ``_do_*`` handlers): ``sign_in_again`` and the ``fxa_*``
faults of the catalogue, the user's sign-in (checked by the accounts oracle, a new kB or
keys_changed_at restarting the device's client) and the quiet period's healing of accounts
that are not married. In a world without accounts (``CampaignConfig.accounts`` off) every
one of them is a no-op.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from beacon.testing._accounts import User, check_account_run
from beacon.testing._invariants import InvariantViolation

__all__ = ["AccountSteps"]


class AccountSteps:
    """See the module docstring; the attributes are the World's."""

    user: User | None
    svc: Any
    kb: bytes
    clock: Any
    devices: list[Any]
    events: collections.Counter[str]
    stored_email: str

    def _restart(self, device: Any, previous_kb: bytes | None = None) -> None:
        raise NotImplementedError  # the World's

    def _sign_in(self, device: Any, *, later: bool = False) -> None:
        """The user signs ``device`` in with the current password (see ``_accounts``); a new
        kB or keys_changed_at restarts its client, the old kB opening its sealed records."""
        if device.fxa is None or self.user is None:
            return
        wire = device.fxa_transport
        start = 0 if wire is None else len(wire.log)
        old = (device.fxa.kb, device.fxa.keys_changed_at)
        result = device.fxa.sign_in(self.user, later=later)
        self.events[f"sign_in:{result.outcome}"] += 1
        if wire is not None:
            exchanges = wire.log[start:]
            del wire.log[start:]
            device.fxa_until = check_account_run(
                exchanges,
                device=device.index,
                before=None,
                after=None,
                error=None,
                trace=None,
                fxa_until=device.fxa_until,
            )
        if result.outcome != "married":
            return
        if device.fxa.kb != self.kb:
            raise InvariantViolation(
                "sign_in_keys", f"device {device.index}: the sign-in gave another kB"
            )
        if device.client is not None and (device.fxa.kb, device.fxa.keys_changed_at) != old:
            self._restart(device, previous_kb=old[0])

    def _do_sign_in_again(self, device: int, codes: str) -> None:
        self._sign_in(self.devices[device], later=codes == "later")

    def _fxa_fault(self, fn: Callable[[Any, str], object]) -> None:
        if self.user is not None:
            fn(self.svc.faults.fxa, self.user.email)
            self.events["fxa_fault"] += 1

    def _do_fxa_expire_access_token(self) -> None:
        self._fxa_fault(lambda fxa, email: fxa.expire_access_tokens(email))

    def _do_fxa_revoke_session(self) -> None:
        self._fxa_fault(lambda fxa, email: fxa.revoke_sessions(email))

    def _do_fxa_password_changed_elsewhere(self, password: int) -> None:
        if self.user is None:
            return
        self.user.password = f"campaign password {password}"
        self._fxa_fault(lambda fxa, email: fxa.change_password(email, self.user_password()))

    def user_password(self) -> str:
        assert self.user is not None
        return self.user.password

    def _do_fxa_throttle(self, count: int, retry_after: int, path: str | None = None) -> None:
        self._fxa_fault(
            lambda fxa, _email: fxa.throttle(count, retry_after=retry_after, path_contains=path)
        )

    def _do_fxa_unverified(self) -> None:
        self._fxa_fault(lambda fxa, email: fxa.unverified_next_login(email))

    def _do_fxa_require_totp(self) -> None:
        self._fxa_fault(lambda fxa, email: fxa.require_totp(email))

    def _do_fxa_block_login(self) -> None:
        self._fxa_fault(lambda fxa, email: fxa.block_next_login(email))

    def _do_fxa_email_case(self) -> None:
        if self.user is None:
            return
        typed = self.user.email
        stored = typed.capitalize() if self.stored_email == typed else typed
        self.stored_email = stored
        self._fxa_fault(lambda fxa, email: fxa.email_case(email, stored, self.user_password()))

    def _heal_accounts(self) -> None:
        """The user signs in again every device whose account is not married (the doghouse,
        a sign-in that stopped or was refused): only the user can do that."""
        for device in self.devices:
            if device.fxa is None or device.fxa.status == "married":
                continue
            self.clock.advance(device.fxa_until - self.clock() + 1)
            self._sign_in(device)
            if device.fxa.status != "married":
                last = device.fxa.last
                raise InvariantViolation(
                    "sign_in",
                    f"device {device.index}: a sign-in in a quiet period ended in "
                    f"{None if last is None else last.outcome}",
                )
