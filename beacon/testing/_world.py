"""The system under test: one embedded service, one account, N devices, a shared clock.

Contract:

* :class:`World` builds everything from a :class:`CampaignConfig` alone (the seed drives kB,
  every device's randomness and nothing else), so the same steps give the same run.
* :meth:`World.apply` performs one :class:`~beacon.testing._faults.CampaignStep` and then checks the
  invariants that step can affect; a broken invariant raises
  :class:`~beacon.testing._invariants.InvariantViolation`. The steps performed are kept in
  :attr:`World.steps` and the chart traces of every sync run are handed to ``on_trace``.
* A fault that cannot apply yet (no storage user before the first token, no meta/global to
  edit) is a no-op, never an error: shrinking may drop the step that made it meaningful.
* Device failures that a fault explains (a ``BeaconError`` from ``sync()``) are outcomes, not
  violations; anything else a client raises propagates. In a quiet period every run must end
  well (``quiet_sync``).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from beacon._errors import BackoffError, BeaconError, UsageError
from beacon.charts import Step as ChartStep
from beacon.charts import Trace
from beacon.fxa import SignInRequired
from beacon.testing import _records_gen as records_gen
from beacon.testing._accounts import (
    DeviceAccount,
    User,
    check_account_run,
)
from beacon.testing._elsewhere import Elsewhere
from beacon.testing._faults import ACCOUNT_RULES, CampaignStep, validate
from beacon.testing._invariants import (
    BackoffWindows,
    InvariantViolation,
    check_convergence,
    check_run,
    check_trace,
)
from beacon.testing._recorder import DeviceTransport
from beacon.testing._world_accounts import AccountSteps

__all__ = ["CampaignConfig", "FakeClock", "Wire", "WireFactory", "World", "scratch_dir"]

#: Seconds the shared clock moves for every request a device sends (the wire takes time).
REQUEST_TICK = 0.01


@dataclass(frozen=True)
class CampaignConfig:
    """What a campaign runs against: devices on one account, the engines, the seed, and the
    search space: ``rules`` (rule and fault names of the vocabulary; None: all of them) and
    ``crash_max`` (a crash happens after one of the first ``crash_max`` transitions).
    ``wire`` (optional) puts something between the devices and the service (see
    :class:`Wire`). Replaying steps needs only the first four."""

    seed: int = 0
    devices: int = 2
    engines: tuple[str, ...] = ("bookmarks", "passwords")
    records: tuple[str, ...] = ("r0", "r1", "r2")
    rules: tuple[str, ...] | None = None
    crash_max: int = 40
    #: Devices sign in through the account chart against the FxA stand-in (password route,
    #: OAuth access tokens refreshed by the chart) instead of holding a fixed access token,
    #: and the account rules (``fxa_*``, ``sign_in_again``) are drawn. Off by default: it
    #: costs the default campaign about a third of its speed (sign-ins, account-chart runs).
    accounts: bool = False
    #: Firefox's collections among ``engines`` run beacon's typed engines (edits through each
    #: engine's API, settle compares what devices read); else every engine is a RecordEngine
    #: under that name, with the campaign's exact record model.
    typed: bool = False
    #: Reach the service another way than in-process (e.g. loopback through beacon proxy).
    wire: WireFactory | None = field(default=None, compare=False)

    def enabled(self, rule: str) -> bool:
        """Whether the campaign may draw ``rule`` (the account rules only with accounts)."""
        if rule in ACCOUNT_RULES and not self.accounts:
            return False
        return self.rules is None or rule in self.rules


@dataclass(frozen=True)
class Wire:
    """How the devices reach the world's service when not in-process: the token server URL,
    a factory of httpx transports (one per device), and optionally the object that answers
    the injected-answer and token faults (``fail_next``, ``backoff_next``, ``expire_tokens``,
    ``revoke_tokens``, ``clear``: a ``beacon.proxy.ProxyFaults``, say) instead of
    ``svc.faults``. Data faults and node moves always act on the service itself."""

    token_server_url: str
    transport: Callable[[], httpx.BaseTransport]
    faults: Any = None


#: Given the world's service, a context that yields the :class:`Wire` to it.
WireFactory = Callable[[Any], contextlib.AbstractContextManager[Wire]]


def scratch_dir(prefix: str) -> Path:
    """A new private directory for one world's state files: in memory-backed ``/dev/shm``
    when the system has it (a commit's fsync then costs nothing, and nothing there has to
    outlive the run), else in the default temporary directory."""
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix=prefix, dir=where))


class FakeClock:
    """The injected clock shared by the service and every device (POSIX seconds)."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move on by ``seconds`` (never backwards)."""
        self.now += max(0.0, seconds)

    def __repr__(self) -> str:
        return f"FakeClock({self.now:.2f})"


class _Crash(Exception):
    """Raised from a chart observer: the device's process dies at this transition."""


@dataclass
class Device:
    """One device: its state file, its wire and its current client object."""

    index: int
    state_dir: Path
    transport: DeviceTransport
    rng: Callable[[int], bytes]
    client: Any = None
    engines: dict[str, Any] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    # The crash point of the run in progress: killed at its crash_at-th transition.
    crash_at: int | None = None
    fired: int = 0
    # Accounts worlds: the device's signed-in account, the wire its FxA requests take (the
    # device's own unless a Wire stands between it and the service) and the end of the last
    # backoff window the accounts server announced to it.
    fxa: DeviceAccount | None = None
    fxa_transport: DeviceTransport | None = None
    fxa_until: float = 0.0

    def observe(self, step: ChartStep) -> None:
        """The client's observer: count the run's transitions, crash at the chosen one."""
        if step.transitions:
            self.fired += 1
            if self.crash_at is not None and self.fired >= self.crash_at:
                raise _Crash


@dataclass
class _Model:
    """What the edits since the last quiet period imply for the server's records."""

    baseline: dict[str, dict[str, str]]
    window: dict[str, dict[str, list[tuple[str, str | None]]]]
    written: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    disturbed: bool = False

    def note(self, engine: str, record: str, writer: str, value: str | None) -> None:
        self.window[engine].setdefault(record, []).append((writer, value))
        if value is not None:
            self.written.setdefault((engine, record), set()).add(value)

    def allowed(self, engine: str, record: str, value: Any) -> bool:
        """Whether someone wrote ``value`` to the record (now or before the window)."""
        written = self.written.get((engine, record), set())
        return value in written or value == self.baseline[engine].get(record)

    def expectations(self, engine: str) -> tuple[dict[str, str | None], set[str]]:
        expected: dict[str, str | None] = dict(self.baseline[engine])
        uncertain: set[str] = set()
        for record, edits in self.window[engine].items():
            writers = {w for w, _ in edits}
            last = edits[-1][1]
            # After a wipe-like fault, a deletion may come back from a device that never saw
            # it, and a record only another device (not a campaign device) wrote may be gone.
            devices_only = all(w.startswith("d") for w in writers)
            if len(writers) > 1 or (self.disturbed and (last is None or not devices_only)):
                uncertain.add(record)
            expected[record] = last
        return expected, uncertain


class World(AccountSteps):
    """See the module docstring (the account steps: ``_world_accounts``)."""

    def __init__(
        self,
        config: CampaignConfig,
        workdir: Path,
        *,
        on_trace: Callable[[Trace], None] | None = None,
    ) -> None:
        from beacon.server import EmbeddedService

        self.config = config
        self.workdir = workdir
        self.on_trace = on_trace
        self.clock = FakeClock()
        self._random = random.Random(config.seed)
        self.svc = EmbeddedService(
            nodes=2, clock=self.clock, rng=random.Random(config.seed * 31 + 7).randbytes
        )
        self._wire_exit = contextlib.ExitStack()
        wire = Wire(self.svc.token_server_url, self.svc.transport, self.svc.faults)
        if config.wire is not None:
            wire = self._wire_exit.enter_context(config.wire(self.svc))
        self.wire = wire
        self.faults: Any = wire.faults or self.svc.faults
        self.kb = self._random.randbytes(32)
        #: The person behind the devices (accounts worlds), and the account's stored email.
        self.user: User | None = None
        if config.accounts:
            self.user = User(self.svc, f"user{config.seed}@example.com", "campaign password 0")
            created = self.svc.fxa.create_account(
                self.user.email, self.user.password, v2=False, kb=self.kb
            )
            self.stored_email = self.user.email
            self.account = self.svc.account(created.uid)
        else:
            self.account = self.svc.create_account()
        #: What the accounts side did: sign-ins by outcome, doghoused runs, refreshes...
        self.events: collections.Counter[str] = collections.Counter()
        self.windows = BackoffWindows()
        self.steps: list[CampaignStep] = []
        self.transitions = 0
        self.runs = 0
        self.last_trace: Trace | None = None
        self.model = _Model(
            baseline={e: {} for e in config.engines},
            window={e: {} for e in config.engines},
        )
        self.elsewhere = Elsewhere(
            self.svc,
            fxa_uid=lambda: str(self.account.fxa_uid),
            kb=lambda: self.kb,
            engines=config.engines,
            rng=random.Random(config.seed * 7919 + 1).randbytes,
        )
        #: The engines with a typed record format (Firefox's collections, and clients): their
        #: edits go through the engine API and settle compares what each device reads.
        self.typed = frozenset(
            e
            for e in config.engines
            if config.typed and (e in records_gen.FIREFOX_COLLECTIONS or e == "clients")
        )
        self.devices = [self._new_device(i) for i in range(config.devices)]

    # -- devices ---------------------------------------------------------------------------
    def _new_device(self, index: int) -> Device:
        state_dir = self.workdir / f"device-{index}"
        state_dir.mkdir(parents=True, exist_ok=True)
        transport = DeviceTransport(
            self.wire.transport(),
            device=index,
            clock=self.clock,
            advance=self.clock.advance,
            tick=REQUEST_TICK,
        )
        transport.keys_probe = self.elsewhere.keys
        seeded = random.Random(self.config.seed * 1_000_003 + index)
        device = Device(index, state_dir, transport, rng=seeded.randbytes)
        if self.user is not None:
            fxa_wire = transport
            if self.config.wire is not None:  # FxA is reached in-process, past the wire
                fxa_wire = DeviceTransport(
                    self.svc.transport(),
                    device=index,
                    clock=self.clock,
                    advance=self.clock.advance,
                    tick=REQUEST_TICK,
                )
            device.fxa_transport = fxa_wire
            device.fxa = DeviceAccount.open(
                auth_server_url=self.svc.auth_server_url,
                transport=fxa_wire,
                clock=self.clock,
                rng=random.Random(self.config.seed * 7_000_001 + index).randbytes,
            )
            self._sign_in(device)
            if device.fxa.status != "married":
                raise InvariantViolation(
                    "sign_in", f"device {index}: the first sign-in ended in {device.fxa.status}"
                )
        self._start(device)
        return device

    def _access_token(self) -> str:
        return str(self.svc.account(self.account.fxa_uid).access_token)

    def _start(self, device: Device, previous_kb: bytes | None = None) -> None:
        """(Re)create the device's client from its state file, as a process start does
        (``previous_kb``: the kB before a password reset, which opens its sealed records)."""
        from beacon.client import RecordEngine, SyncClient

        engines: dict[str, Any] = {}
        for name in self.config.engines:
            if name == "clients" and name in self.typed:
                continue  # every SyncClient syncs its clients collection itself
            typed = None
            if name in self.typed:
                typed = records_gen.typed_engine(name, clock=self.clock, rng=device.rng)
            engines[name] = typed if typed is not None else RecordEngine(name, clock=self.clock)
        device.engines = engines
        access: Any = self._access_token
        kb, keys_changed_at = self.kb, int(self.account.keys_changed_at)
        if device.fxa is not None and device.fxa.kb is not None:
            # Tokens from the account chart; kB and keys_changed_at from the last sign-in.
            access = device.fxa.token_source()
            kb, keys_changed_at = device.fxa.kb, int(device.fxa.keys_changed_at or 0)
        device.client = SyncClient(
            self.wire.token_server_url,
            access,
            kb=kb,
            keys_changed_at=keys_changed_at,
            state_path=device.state_dir,
            engines=list(engines.values()),
            transport=device.transport,
            clock=self.clock,
            rng=device.rng,
            client_name=f"device-{device.index}",
            observers=[device.observe],
            previous_kb=previous_kb,
        )
        try:
            _ = device.client.store
        except BeaconError as exc:
            raise InvariantViolation(
                "state_loads", f"device {device.index}: its state file does not load ({exc.kind})"
            ) from None

    def _restart(self, device: Device, previous_kb: bytes | None = None) -> None:
        device.client.close()
        self._start(device, previous_kb)

    def close(self) -> None:
        """Close every client (the caller removes ``workdir``)."""
        for device in self.devices:
            device.client.close()
            if device.fxa is not None:
                device.fxa.close()
        self._wire_exit.close()
        self.svc.close()

    # -- steps -----------------------------------------------------------------------------
    def apply(self, step: CampaignStep) -> None:
        """Perform ``step`` and check the invariants (see the module docstring)."""
        validate(step, devices=len(self.devices), engines=self.config.engines)
        self.steps.append(step)
        handler: Callable[..., None] = getattr(self, f"_do_{step.rule}")
        handler(**step.args)

    def _device(self, device: object) -> Device:
        assert isinstance(device, int)
        found: Device = self.devices[device]
        return found

    def _fault(self, fn: Callable[[], object]) -> None:
        with contextlib.suppress(UsageError):  # no storage user yet: nothing to fault
            fn()

    def _do_edit(self, device: int, engine: str, record: str, value: int) -> None:
        text = f"d{device}v{value}"
        if engine in self.typed:
            if engine != "clients":
                records_gen.edit(self.devices[device].engines[engine], engine, record, text, value)
            return
        self.devices[device].engines[engine].put(record, {"value": text})
        self.model.note(engine, record, f"d{device}", text)

    def _do_delete(self, device: int, engine: str, record: str) -> None:
        if engine in self.typed:
            if engine != "clients":
                records_gen.delete(self.devices[device].engines[engine], engine, record)
            return
        self.devices[device].engines[engine].delete(record)
        self.model.note(engine, record, f"d{device}", None)

    def _do_sync(self, device: int) -> None:
        self._sync(self.devices[device])

    def _do_crash(self, device: int, at: int) -> None:
        self._sync(self.devices[device], crash_at=at)

    def _do_advance_clock(self, seconds: float) -> None:
        self.clock.advance(float(seconds))

    def _do_expire_token(self) -> None:
        self._fault(lambda: self.faults.expire_tokens(self.account.fxa_uid))

    def _do_revoke_token(self) -> None:
        self._fault(lambda: self.faults.revoke_tokens(self.account.fxa_uid))

    def _do_move_node(self) -> None:
        self._fault(lambda: self.svc.faults.move_user(self.account.fxa_uid))
        self.model.disturbed = True

    def _do_unavailable(self, count: int, retry_after: int, path: str | None = None) -> None:
        self.faults.fail_next(count, path_contains=path, retry_after=retry_after)

    def _do_unauthorized(self, count: int, path: str | None = None) -> None:
        self.faults.fail_next(count, path_contains=path, status=401, retry_after=None)

    def _do_backoff_header(self, count: int, seconds: int, header: str) -> None:
        self.faults.backoff_next(count, seconds=seconds, header=header)

    def _do_network_error(self, device: int, after: int, kind: str) -> None:
        self.devices[device].transport.arm_network_error(after, kind)

    def _do_race(self, device: int, engine: str) -> None:
        other = f"race{device}"

        def write() -> None:
            value = f"{other}@{self.clock():.2f}"
            if self.elsewhere.edit(engine, "race", {"id": "race", "value": value}):
                self.model.note(engine, "race", other, value)

        dev = self.devices[device]
        dev.transport.arm_race(engine, write)
        self._do_edit(device, engine, self.config.records[0], 99)
        self._sync(dev)

    def _do_password_reset(self) -> None:
        if self.user is not None:
            # A reset without a recovery key: a new kB; the user signs every device in again.
            self.events["password_reset"] += 1
            self.user.password = f"campaign reset {self.events['password_reset']}"
            self.kb = self.svc.fxa.reset_account(self.user.email, self.user.password)
            self.account = self.svc.account(self.account.fxa_uid)
            self.model.disturbed = True
            for device in self.devices:
                self._sign_in(device)
            return
        self.account = self.svc.reset_password(self.account.fxa_uid)
        previous, self.kb = self.kb, self._random.randbytes(32)
        self.model.disturbed = True
        for device in self.devices:
            self._restart(device, previous)

    def _do_fresh_start_elsewhere(self) -> None:
        self._fault(self.elsewhere.fresh_start)
        self.model.disturbed = True

    def _do_rotate_keys(self, engine: str | None = None) -> None:
        self._fault(lambda: self.elsewhere.rotate_keys(engine))
        self.model.disturbed = True

    def _do_change_sync_id(self, engine: str) -> None:
        self._fault(lambda: self.elsewhere.change_sync_id(engine))
        self.model.disturbed = True

    def _do_decline_elsewhere(self, engine: str) -> None:
        self._fault(lambda: self.elsewhere.decline(engine))

    def _do_enable_elsewhere(self, engine: str) -> None:
        self._fault(lambda: self.elsewhere.enable(engine))
        self.model.disturbed = True

    def _do_storage_version(self, version: int) -> None:
        self._fault(lambda: self.elsewhere.set_storage_version(version))
        self.model.disturbed = True

    def _do_delete_meta_global(self) -> None:
        self._fault(self.elsewhere.delete_meta_global)
        self.model.disturbed = True

    def _do_delete_crypto_keys(self) -> None:
        self._fault(self.elsewhere.delete_crypto_keys)
        self.model.disturbed = True

    def _do_foreign_keys(self) -> None:
        self._fault(self.elsewhere.foreign_keys)

    def _do_bad_hmac(self, engine: str, record: str) -> None:
        self._fault(lambda: self.elsewhere.bad_hmac(engine, record))

    def _do_remote_edit(self, engine: str, record: str, value: int) -> None:
        text = f"x{value}"

        def edit() -> None:
            if self.elsewhere.edit(engine, record, {"id": record, "value": text}):
                self.model.note(engine, record, "elsewhere", text)

        self._fault(edit)

    def _do_remote_delete(self, engine: str, record: str) -> None:
        def delete() -> None:
            if self.elsewhere.edit(engine, record, {"id": record, "deleted": True}):
                self.model.note(engine, record, "elsewhere", None)

        self._fault(delete)

    def _do_settle(self) -> None:
        self._settle()

    # -- running a device ------------------------------------------------------------------
    def _sync(self, device: Device, *, crash_at: int | None = None) -> BaseException | None:
        """One sync run of ``device``; returns the error it ended with (None when ``ok``)."""
        device.transport.run += 1
        self.runs += 1
        start = len(device.transport.log)
        fxa_wire = device.fxa_transport
        fxa_start = 0 if fxa_wire is None else len(fxa_wire.log)
        before = None if device.fxa is None else device.fxa.status
        device.crash_at, device.fired = crash_at, 0
        error: BaseException | None = None
        crashed = False
        try:
            device.client.sync()
        except BeaconError as exc:
            error = exc
        except _Crash:
            crashed = True
        result = device.client.last_result
        run = device.transport.log[start:]
        del device.transport.log[:start]
        trace: Trace | None = None
        if result is not None and result.trace:
            trace = Trace.from_json(result.trace)
            self.last_trace = trace
            self.transitions += sum(len(s.transitions) for t in trace.walk() for s in t.steps)
            check_trace(trace, complete=not crashed)
            if self.on_trace is not None:
                self.on_trace(trace)
        check_run(
            run, windows=self.windows, rejected=device.rejected, engines=len(self.config.engines)
        )
        if device.fxa is not None and fxa_wire is not None:
            fxa_run = run
            if fxa_wire is not device.transport:
                fxa_run = sorted([*run, *fxa_wire.log[fxa_start:]], key=lambda ex: ex.time)
                del fxa_wire.log[fxa_start:]
            after = device.fxa.status
            device.fxa_until = check_account_run(
                fxa_run,
                device=device.index,
                before=before,
                after=after,
                error=error,
                trace=trace,
                fxa_until=device.fxa_until,
                crashed=crashed,
            )
            if after == "doghouse":
                self.events["doghouse_run"] += 1
            if trace is not None and any(
                "refreshing_credentials" in step.entered for t in trace.walk() for step in t.steps
            ):
                self.events["refresh"] += 1
        for ex in run:
            ex.body = None
            ex.keys = None
        if crashed:
            # A new process: what the old one knew about refused tokens died with it.
            device.rejected.clear()
            self._restart(device)
        return error

    # -- the quiet period ----------------------------------------------------------------
    def _heal(self) -> bool:
        """Undo what no client may repair on its own: keys under another kB, a storage
        version from the future, campaign engines declined elsewhere. True if it did."""
        healed = False
        if self.elsewhere.keys_untrusted():
            # Nobody can read them: the user's way out is a new start from a trusted device.
            self._fault(self.elsewhere.delete_crypto_keys)
            self.model.disturbed = healed = True
        if (self.elsewhere.storage_version() or 5) > 5:
            self._fault(lambda: self.elsewhere.set_storage_version(5))
            healed = True
        for engine in self.elsewhere.declined():
            if engine in self.config.engines:
                self._fault(functools.partial(self.elsewhere.enable, engine))
                self.model.disturbed = healed = True
        return healed

    def _settle(self) -> None:
        for device in self.devices:
            device.transport.disarm()
        self.svc.faults.clear()
        self.faults.clear()
        if self.user is not None:
            self.svc.faults.fxa.clear_throttle()
        # A device's own fresh start during the quiet period may carry a decline it learned
        # earlier into the new meta/global: heal once more and sync again if so.
        for attempt in range(2):
            if not self._heal() and attempt:
                break
            latest = max([self.windows.latest(), *(d.fxa_until for d in self.devices)])
            self.clock.advance(latest - self.clock() + 1)
            self._heal_accounts()
            for _round in range(2):
                for device in self.devices:
                    self._quiet_sync(device)
        self._check_typed()
        for engine in self.config.engines:
            if engine in self.typed:
                continue
            server = {rid: rec.get("value") for rid, rec in self.elsewhere.records(engine).items()}
            local = [
                {rid: rec.get("value") for rid, rec in d.engines[engine].records()}
                for d in self.devices
            ]
            expected, uncertain = self.model.expectations(engine)
            check_convergence(
                engine,
                server,
                local,
                expected=expected,
                uncertain=uncertain,
                allowed=functools.partial(self.model.allowed, engine),
            )
            self.model.baseline[engine] = {k: str(v) for k, v in server.items()}
            self.model.window[engine] = {}
        self.model.disturbed = False

    def _check_typed(self) -> None:
        records_gen.check_typed(self.typed, self.devices)

    def _quiet_sync(self, device: Device) -> None:
        # Three runs, plus one after each sign-in the quiet period needed (at most two): a
        # device that meets the doghouse only now (its storage token outlived a password
        # change) signs in again, and then may still wait out the pause the session chart
        # keeps after the refusal.
        runs, sign_ins = 3, 0
        while runs:
            runs -= 1
            error = self._sync(device)
            if error is None:
                return
            if isinstance(error, BackoffError):
                self.clock.advance(error.until - self.clock() + 1)
                continue
            if isinstance(error, SignInRequired) and device.fxa is not None and sign_ins < 2:
                sign_ins += 1
                runs += 1
                self._heal_accounts()
                continue
            break
        kind = getattr(error, "kind", type(error).__name__)
        raise InvariantViolation(
            "quiet_sync", f"device {device.index}: a run in a quiet period ended with {kind}"
        )
