"""The demo's story, run for real: one embedded service on loopback HTTP, two devices.

1. Device A writes three notes and syncs: the account is empty, so A sets storage up
   (a fresh start: meta/global and crypto/keys) and uploads.
2. Device B syncs and receives A's notes.
3. A edits one note and adds two, and syncs; in the middle of that run, just before A's
   upload reaches the server, the service revokes every token A holds. The upload is refused
   (401); A's session chart drops the token, fetches a new one and finishes the run.
4. B syncs and receives A's changes.
5. The service moves the user to another storage node (empty storage, a new uid); B writes a
   note meanwhile.
6. A syncs: the old node refuses (401), the token server points at the new node, A forgets
   what it knew about the old one, finds storage empty and starts it afresh, uploading all.
7. B syncs: the same move, then it finds A's new meta/global, resets, downloads everything
   and uploads its own note.
8. A syncs and receives B's note: both devices hold the same notes as the server.
9. B syncs once more: nothing changed, one request.

The trigger of step 3 is an observer of A's client (``SyncClient.add_observer``, which sees
every step of every chart of a run): once the notes collection has downloaded and is about to
upload, it calls ``svc.faults.revoke_tokens``; the 401 itself comes from the service. Every
claim of the story is checked against the service's request log, the sync results and the
records on both devices and on the server; the demo fails when one does not hold. The kB is
random per run and never leaves the process; the demo checks that no output file holds it, the
access token or the keys.
"""

from __future__ import annotations

import base64
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from beacon._errors import BeaconError
from beacon.charts import Step, Trace
from beacon.client import RecordEngine, SyncClient, SyncResult
from beacon.demo._outputs import find_leaks, secrets_of, write_outputs, write_story
from beacon.demo._story import Chapter, Request, Story
from beacon.fxa import FirefoxAccount, MemoryStore, sync_client
from beacon.server import EmbeddedService

__all__ = ["COLLECTION", "run_demo"]

COLLECTION = "notes"
DEVICES = ("A", "B")
#: The demo account's address on the stand-in (the password is random per run).
DEMO_EMAIL = "demo@beacon.test"


@dataclass
class _Device:
    name: str
    client: SyncClient
    notes: RecordEngine
    traces: list[dict[str, Any]] = field(default_factory=list)
    results: list[SyncResult] = field(default_factory=list)


def _session_path(states: tuple[str, ...]) -> tuple[str, ...]:
    """The session chart's own states (nested charts' states are ``chart:state``)."""
    return tuple(s for s in states if ":" not in s)


class _Runner:
    """Runs the chapters and keeps the story."""

    def __init__(self, svc: EmbeddedService, fxa_uid: str, story: Story, progress: Console):
        self.svc = svc
        self.fxa_uid = fxa_uid
        self.story = story
        self.progress = progress

    def sync(self, device: _Device, title: str) -> Chapter:
        self.svc.faults.clear_request_log()
        start = time.perf_counter()
        result: SyncResult | None
        try:
            result = device.client.sync()
        except BeaconError:
            result = device.client.last_result
        seconds = time.perf_counter() - start
        log = self.svc.faults.request_log()
        outcome = "interrupted"
        states: tuple[str, ...] = ()
        engines: dict[str, dict[str, int]] = {}
        if result is not None:
            outcome = "synced" if result.outcome == "ok" else result.outcome
            states = result.states
            engines = {
                name: {
                    k: int(v)
                    for k, v in counts.items()
                    if k in ("downloaded", "applied", "uploaded", "failed") and v
                }
                for name, counts in result.engines.items()
                if name == COLLECTION
            }
            device.traces.append(result.trace)
            device.results.append(result)
        chapter = Chapter(
            number=len(self.story.chapters) + 1,
            device=device.name,
            title=title,
            outcome=outcome,
            path=_session_path(states),
            requests=tuple(Request(r.method, _short(r.path), r.status) for r in log),
            engines=engines,
            seconds=seconds,
        )
        self.story.chapters.append(chapter)
        self.progress.print(
            f"  [dim]{chapter.number}.[/dim] {device.name}: {title} [dim]→ {outcome}, "
            f"{len(chapter.requests)} request{'' if len(chapter.requests) == 1 else 's'}[/dim]"
        )
        return chapter


def _short(path: str) -> str:
    """``/node/1/1.5/<uid>/storage/notes`` → ``node 1: storage/notes``; others stay whole."""
    parts = path.strip("/").split("/")
    if "1.5" in parts[:-2] and parts[0] != "1.0":
        at = parts.index("1.5")
        where = " ".join(parts[:at]) or "storage"
        return f"{where}: {'/'.join(parts[at + 2 :])}"
    return path


@contextmanager
def _service() -> Iterator[tuple[EmbeddedService, str]]:
    # In memory: the service's database (and its token master secret) never touches the disk.
    with EmbeddedService(nodes=2) as svc, svc.serve(host="127.0.0.1", port=0) as base:
        yield svc, base


def _device(name: str, out: Path, token_url: str, account: FirefoxAccount) -> _Device:
    """A device of the signed-in account: its token comes from the account (refreshed
    through the account chart), its kB from the sign-in's key fetch."""
    notes = RecordEngine(COLLECTION)
    client = sync_client(
        account,
        token_url,
        out / "devices" / name,
        [notes],
        client_name=f"demo device {name}",
    )
    return _Device(name, client, notes)


def _sign_in(
    story: Story, name: str, auth_url: str, email: str, password: str
) -> tuple[FirefoxAccount, Trace]:
    """A password sign-in against the stand-in: separated → ... → married."""
    account = FirefoxAccount(MemoryStore(), auth_server_url=auth_url)
    result = account.sign_in(email, password)
    path = " → ".join(s for s in result.states)
    story.check(
        f"device {name} signs in with a password: the account chart goes from separated to married",
        result.outcome == "married" and result.states[-1] == "married",
        f"{path}; {result.requests} requests",
    )
    return account, result.trace


def _note(n: int, text: str) -> dict[str, Any]:
    return {"title": f"note {n}", "text": text}


def run_demo(out: Path, *, progress: Console | None = None, kb: bytes | None = None) -> Story:
    """Run the whole story, write ``out/``, and return the checked :class:`Story`.

    ``kb`` is the account key (random when not given); tests pass one to look for it in the
    outputs themselves.
    """
    progress = progress or Console(stderr=True, quiet=True)
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("devices", "traces"):  # every run tells the story from the start
        shutil.rmtree(out / stale, ignore_errors=True)
    story = Story(devices=DEVICES)
    kb = kb if kb is not None else os.urandom(32)  # never printed, never written
    password = base64.urlsafe_b64encode(os.urandom(12)).decode("ascii")  # likewise
    with ExitStack() as stack:
        svc, base = stack.enter_context(_service())
        story.base_url = base
        # A Firefox account on the stand-in; both devices sign in to it with the password.
        created = svc.fxa.create_account(DEMO_EMAIL, password, kb=kb)
        token_url = f"{base}/1.0/sync/1.5"
        progress.print(f"embedded Sync 1.5 service and FxA stand-in on {base} (2 storage nodes)")
        accounts, signins = {}, {}
        for name in DEVICES:
            account, trace = _sign_in(story, name, f"{base}/fxa", DEMO_EMAIL, password)
            stack.callback(account.close)
            accounts[name], signins[name] = account, trace
        a = _device("A", out, token_url, accounts["A"])
        b = _device("B", out, token_url, accounts["B"])
        for device in (a, b):
            stack.callback(device.client.close)
        runner = _Runner(svc, created.uid, story, progress)
        _tell(story, runner, svc, created.uid, a, b)
        secrets = secrets_of(kb, password)
        for account in accounts.values():
            secrets.add(account.credentials().access_token)
    story.seconds = time.perf_counter() - started
    write_outputs(story, out, {d.name: d.traces for d in (a, b)}, signins=signins)
    leaks = find_leaks(out, secrets)
    story.check(
        "no output file holds the kB, the password, an access token or the keys",
        not leaks,
        ", ".join(sorted(leaks)),
    )
    story.seconds = time.perf_counter() - started
    write_story(story, out)
    return story


def _tell(
    story: Story, runner: _Runner, svc: EmbeddedService, fxa_uid: str, a: _Device, b: _Device
) -> None:
    # 1-2: A sets up an empty account and uploads; B receives.
    for n, text in enumerate(("buy milk", "call the plumber", "read the seed note"), start=1):
        a.notes.put(f"note-{n}", _note(n, text))
    first = runner.sync(a, "A writes 3 notes and syncs an empty account")
    story.check(
        "A's first sync sets storage up (fresh start) and uploads its notes",
        first.outcome == "synced"
        and "fresh_start" in first.path
        and first.engines.get(COLLECTION, {}).get("uploaded") == 3,
        f"{first.outcome}, uploaded {first.engines.get(COLLECTION, {}).get('uploaded', 0)}",
    )
    got = runner.sync(b, "B syncs and receives A's notes")
    story.check(
        "B receives A's three notes",
        got.outcome == "synced" and _ids(b) == {"note-1", "note-2", "note-3"},
        f"B holds {len(_ids(b))} notes",
    )

    # 3: A's token is revoked in the middle of its run, just before its upload.
    a.notes.put("note-2", _note(2, "call the plumber: done"))
    for n, text in ((4, "water the plants"), (5, "book the train")):
        a.notes.put(f"note-{n}", _note(n, text))
    revoked: list[str] = []
    collections: list[int] = []  # collection chart runs so far: clients, then notes

    def revoke_before_upload(step: Step) -> None:
        # Observers run after a step; the step entering `downloaded` is the last before the
        # upload of that collection (clients first, then notes).
        collections.extend(1 for state in step.entered if state == "unknown")
        if not revoked and len(collections) == 2 and "downloaded" in step.entered:
            svc.faults.revoke_tokens(fxa_uid)
            revoked.append(COLLECTION)

    a.client.add_observer(revoke_before_upload)  # acts once: `revoked` holds it afterwards
    mid = runner.sync(a, "A edits a note, adds two, syncs; mid-run the service revokes the tokens")
    refused = [r for r in mid.requests if r.status == 401]
    story.check(
        "A's token is revoked mid-run: its upload is refused with 401",
        bool(revoked) and bool(refused) and refused[0].method == "POST",
        ", ".join(r.label() for r in refused) or "no 401",
    )
    story.check(
        "A recovers in the same run: drops the token, gets a new one, uploads",
        mid.outcome == "synced"
        and mid.path.count("invalidated") == 1
        and mid.requests[-1].status < 300
        and mid.engines.get(COLLECTION, {}).get("uploaded") == 3,
        f"{mid.outcome}, uploaded {mid.engines.get(COLLECTION, {}).get('uploaded', 0)}",
    )
    runner.sync(b, "B syncs (its old token was revoked too) and receives A's changes")
    note2 = b.notes.get("note-2") or {}
    story.check(
        "B has A's edit and A's new notes",
        _ids(b) == {f"note-{n}" for n in range(1, 6)}
        and note2.get("text") == "call the plumber: done",
        f"B holds {len(_ids(b))} notes",
    )

    # 5-8: the user moves to another node; both devices start over there and converge.
    old = svc.faults.user(fxa_uid) or {}
    new_node = svc.faults.move_user(fxa_uid)
    b.notes.put("note-6", _note(6, "written on B while the user moved"))
    moved_a = runner.sync(a, f"the service moves the user to node {new_node}; A syncs")
    moved_b = runner.sync(b, "B syncs after the move, with a note of its own")
    story.check(
        f"the user moved from node {old.get('node')} to node {new_node}",
        old.get("node") not in (None, new_node),
    )
    story.check(
        "A meets the move: the old node refuses, A leaves it and starts the new one afresh",
        moved_a.outcome == "synced"
        and 401 in moved_a.statuses()
        and "leaving_old_node" in moved_a.path
        and "fresh_start" in moved_a.path,
        " → ".join(
            s for s in moved_a.path if s in ("invalidated", "leaving_old_node", "fresh_start")
        ),
    )
    story.check(
        "B meets the move, adopts A's new storage and uploads its own note",
        moved_b.outcome == "synced"
        and "leaving_old_node" in moved_b.path
        and "fresh_start" not in moved_b.path
        and moved_b.engines.get(COLLECTION, {}).get("uploaded", 0) >= 1,
        f"downloaded {moved_b.engines.get(COLLECTION, {}).get('downloaded', 0)}, "
        f"uploaded {moved_b.engines.get(COLLECTION, {}).get('uploaded', 0)}",
    )
    runner.sync(a, "A syncs and receives B's note")
    server = set(svc.faults.records(fxa_uid, COLLECTION))
    local_a, local_b = dict(a.notes.records()), dict(b.notes.records())
    expected = {f"note-{n}" for n in range(1, 7)}
    story.check(
        "both devices converge: the same notes on A, on B and on the new node",
        local_a == local_b and set(local_a) == expected and server == expected,
        f"A {len(local_a)}, B {len(local_b)}, server {len(server)} notes",
    )
    quiet = runner.sync(b, "B syncs again: nothing changed")
    story.check(
        "a sync with nothing to do costs one request",
        quiet.outcome == "synced" and len(quiet.requests) == 1,
        f"{len(quiet.requests)} request(s)",
    )
    story.check(
        "every run's request count matches the service's log",
        all(
            r.requests == len(c.requests)
            for c, r in zip(
                story.chapters,
                _interleave(story, a, b),
                strict=True,
            )
        ),
    )


def _interleave(story: Story, a: _Device, b: _Device) -> list[SyncResult]:
    """The devices' results in the order of the story's chapters."""
    it = {"A": iter(a.results), "B": iter(b.results)}
    return [next(it[c.device]) for c in story.chapters]


def _ids(device: _Device) -> set[str]:
    return {record_id for record_id, _ in device.notes.records()}
