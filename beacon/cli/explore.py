"""``beacon explore``: a model-based campaign against the embedded service, with coverage.

::

    beacon explore [--examples N] [--steps K] [--seed S] [--json] [--paths]
                   [--coverage-out FILE] [--failure-out FILE] [--report FILE [--live]]
    beacon explore --replay FILE [--trace-out FILE] [--json]
    beacon explore --chart FILE [--services MODULE:ATTR] [--invariants MODULE:ATTR]
                   [--blind] [--force-outcomes] [--examples N] [--steps K] [--seed S]
    beacon explore --workers N [--database URL] [options of a campaign]
    beacon explore --shard I/N [--database URL] [--report-json FILE] [options of a campaign]
    beacon explore --merge REPORT.json... [--json] [--coverage-out FILE] [--failure-out FILE]

A campaign runs two devices on one account against the in-process embedded service, with
random local edits, syncs, crashes, clock moves and faults, checking the invariants after
every step (see ``beacon.testing``). It prints a coverage table of the Sync charts (or, with
``--json``, one JSON object) and writes a coverage file that ``beacon chart render
--coverage`` draws. When an invariant fails, the shrunk example is saved as a replay file
(``--failure-out``, default ``beacon-explore-failure.json``) and the last run's trace next to
it (``<file>.trace.json``, for ``beacon chart render statecharts/session.yaml --trace``);
the exit status is 1. ``--paths`` adds the deterministic walks generated from ``beacon chart
paths`` to the coverage, so the table shows what neither takes and names any transition no
path reaches. ``--report FILE`` writes one self-contained HTML page: coverage over time per
chart, each chart with its coverage drawn on it, the goals met and missed, and the shrunk
failure with its trace on the charts (``--live``: rewritten while the campaign runs, the page
reloading itself). On a terminal a progress bar shows the examples, transitions/s and the
share of the charts' transitions covered. ``--replay FILE`` runs a replay file again, step
for step.

``--chart FILE`` explores any chart instead: its actions run on the services
``--services`` makes (or are drawn from the outcomes the chart handles), the invariants
``--invariants`` names are checked after every step, the coverage guide steers examples
toward transitions and crash points not yet reached (``--blind`` turns it off), and the
chart's declared "sometimes" goals must each be met (see ``docs/charts.md``).

Sharded campaigns: ``--workers N`` splits the campaign's examples over N local processes,
each with its own seed (shard 0 keeps ``--seed``), and prints one merged report: coverage is
the union, counts add up, failures are listed shortest first (the shortest is saved at
``--failure-out``, the others beside it as ``<file>.shard-I.json``). ``--shard I/N`` runs
shard I (0-based: 0 <= I < N) of the campaign, for a job runner that starts N jobs (a CI
matrix, a Kubernetes indexed job: ``--shard $JOB_COMPLETION_INDEX/N``); it writes its report
with ``--report-json FILE`` (or prints it with ``--json``), and ``--merge`` combines the
reports of the N jobs. ``--examples`` is always the whole campaign's, shared out among the
shards. ``--database URL`` (``dir:PATH``, a directory, or ``redis://HOST:PORT/DB`` with
``pip install 'beacon[shards]'``) is Hypothesis's example database the shards share: a
failure one shard saves there is replayed first by every shard (and every run of the same
campaign) that starts later; ``--workers`` without it shares a temporary directory. It works
for a single-process campaign too. The same seed, build and database contents give the same
shard, down to a byte-identical trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hypothesis.database import ExampleDatabase
    from rich.console import Console
    from rich.progress import Progress

    from beacon.testing import CampaignConfig, ShardedResult, ShardReport, TimelinePoint

__all__ = ["register"]

DEFAULT_FAILURE = Path("beacon-explore-failure.json")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


EXAMPLES = """\
beacon explore --chart statecharts/door.yaml --services examples/door_service.py:Door \\
    --invariants examples/door_service.py:INVARIANTS --examples 200
beacon explore --examples 200 --steps 25 --seed 1 --coverage-out coverage.json
beacon chart render statecharts/*.yaml --coverage coverage.json -o coverage-diagrams/
beacon explore --replay beacon-explore-failure.json --trace-out failure.trace.json
beacon explore --examples 500 --report campaign.html --live
beacon explore --workers 2 --examples 400 --seed 7 --database dir:.beacon-examples
beacon explore --shard 0/4 --seed 7 --database redis://redis:6379/0 --report-json shard-0.json
beacon explore --merge shard-*.json --coverage-out coverage.json
"""


def register(subparsers: Any) -> None:
    """Add the ``explore`` subcommand."""
    from beacon.cli._common import add_command

    parser = add_command(
        subparsers,
        "explore",
        help="run a model-based campaign (faults, invariants, coverage, replay)",
        doc=__doc__,
        examples=EXAMPLES,
    )
    parser.add_argument("--examples", type=_positive, default=60, help="examples (default 60)")
    parser.add_argument("--steps", type=_positive, default=20, help="max steps per example")
    parser.add_argument("--seed", type=_seed, default=0, help="the campaign's seed (default 0)")
    parser.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    parser.add_argument(
        "--paths",
        action="store_true",
        help="add the walks of beacon chart paths to the coverage",
    )
    parser.add_argument(
        "--coverage-out", type=Path, metavar="FILE", help="write a chart coverage file"
    )
    parser.add_argument(
        "--failure-out",
        type=Path,
        default=DEFAULT_FAILURE,
        metavar="FILE",
        help=f"where a shrunk failure is saved (default {DEFAULT_FAILURE})",
    )
    parser.add_argument("--replay", type=Path, metavar="FILE", help="re-run a replay file")
    parser.add_argument(
        "--accounts",
        action="store_true",
        help="devices sign in through the account chart; adds the Firefox Accounts faults",
    )
    parser.add_argument(
        "--typed",
        action="store_true",
        help="Firefox's collections run their typed engines (edits through each engine's API)",
    )
    parser.add_argument(
        "--chart", metavar="FILE", help="explore this chart instead of Sync (a YAML chart file)"
    )
    parser.add_argument(
        "--services",
        metavar="MODULE:ATTR",
        help="with --chart: a class or function making the chart's services (else drawn)",
    )
    parser.add_argument(
        "--invariants",
        metavar="MODULE:ATTR",
        help="with --chart: a check (or list of checks) run after every step",
    )
    parser.add_argument(
        "--blind", action="store_true", help="with --chart: no coverage guide (for comparison)"
    )
    parser.add_argument(
        "--force-outcomes",
        action="store_true",
        help="with --chart: faults may force a bound action's outcome",
    )
    parser.add_argument(
        "--report", type=Path, metavar="FILE", help="write a self-contained HTML campaign report"
    )
    parser.add_argument(
        "--live", action="store_true", help="with --report: rewrite it while the campaign runs"
    )
    parser.add_argument(
        "--trace-out", type=Path, metavar="FILE", help="with --replay: save the last run's trace"
    )
    _register_shards(parser)
    parser.set_defaults(func=_run)


def _register_shards(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers", type=_positive, metavar="N", help="split the campaign over N processes"
    )
    parser.add_argument(
        "--shard", metavar="I/N", help="run shard I of N (0-based) and report it (see above)"
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="shared example database: dir:PATH, a directory, or redis://HOST:PORT/DB",
    )
    parser.add_argument(
        "--report-json", type=Path, metavar="FILE", help="with --shard: write its report here"
    )
    parser.add_argument(
        "--merge", nargs="+", type=Path, metavar="REPORT", help="merge shard reports"
    )


def _world_config(args: argparse.Namespace) -> CampaignConfig | None:
    """The campaign's world when ``--accounts``/``--typed`` ask for one (None: the default)."""
    from beacon.testing import CampaignConfig

    if not (args.accounts or args.typed):
        return None
    return CampaignConfig(accounts=args.accounts, typed=args.typed)


def _trace_path(replay_path: Path) -> Path:
    return replay_path.with_name(replay_path.stem + ".trace.json")


def _run(args: argparse.Namespace) -> int:
    from beacon.cli._explore_chart import run_chart_explore, run_chart_replay

    if _sharding(args):
        return _sharded(args)
    if args.replay is not None:
        if _is_chart_replay(args.replay):
            return run_chart_replay(args)
        return _replay(args)
    if args.chart is not None:
        return run_chart_explore(args)
    return _campaign(args)


def _is_chart_replay(path: Path) -> bool:
    from beacon.testing import CHART_REPLAY_FORMAT

    try:
        head = path.read_text()[:4096]
    except (OSError, UnicodeDecodeError):
        return False
    return f'"format": "{CHART_REPLAY_FORMAT}"' in head


def _progress_bar(console: Console, total: int, *, show: bool) -> Progress:
    """The campaign's progress bar on ``console``: examples, transitions/s, coverage (shown
    only when ``show`` and the console is a terminal); feed it with :func:`_progressed`."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("exploring"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("examples · {task.fields[rate]:,.0f} transitions/s"),
        TextColumn("· {task.fields[coverage]:.0f}% of transitions covered"),
        console=console,
        disable=not (show and console.is_terminal),
        transient=True,
    )
    progress.add_task("examples", total=total, rate=0.0, coverage=0.0)
    return progress


def _progressed(progress: Progress, point: TimelinePoint) -> None:
    """Move the bar to ``point`` (shrinking runs more examples than the bar counts)."""
    task = progress.task_ids[0]
    total = progress.tasks[0].total or point.examples
    progress.update(
        task, completed=min(point.examples, total), rate=point.rate, coverage=point.percent
    )


def _writable_report(path: Path) -> None:
    from beacon._errors import UsageError
    from beacon.cli._common import writable_dir

    if path.is_dir():
        raise UsageError(f"--report {str(path)!r}: is a folder, not a file")
    writable_dir(path.parent, "--report")


def _campaign(args: argparse.Namespace) -> int:
    from rich.console import Console

    from beacon._errors import UsageError
    from beacon.charts import Trace
    from beacon.testing import format_table, run_campaign, save_replay

    if args.live and args.report is None:
        raise UsageError("--live needs --report FILE")
    if args.report is not None:  # refused now, not after a long campaign
        _writable_report(args.report)
    err = Console(stderr=True)
    show = not args.json and not getattr(args, "quiet", False)
    with _progress_bar(err, args.examples, show=show) as progress:
        result = run_campaign(
            examples=args.examples,
            steps=args.steps,
            seed=args.seed,
            report=args.report,
            live=args.live,
            on_progress=lambda point: _progressed(progress, point),
            database=None if args.database is None else _open_database(args.database),
            config=_world_config(args),
        )
    if args.paths:
        from beacon.charts import load_chart
        from beacon.testing import SYNC_CHARTS, walk_chart

        unreachable: dict[str, list[str]] = {}
        for name in SYNC_CHARTS:
            walked = walk_chart(load_chart(name))
            result.coverage.merge(walked.coverage)
            labels = walked.unreachable + [
                f"{label} (walk diverged)" for label in walked.divergences.values()
            ]
            if labels:
                unreachable[name] = labels
    out: dict[str, Any] = result.to_json()
    if args.paths:
        out["unreachable"] = unreachable
    if args.coverage_out is not None:
        result.coverage.to_coverage().save(args.coverage_out)
        out["coverage_file"] = str(args.coverage_out)
    if args.report is not None:
        out["report_file"] = str(args.report)
    if result.failure is not None:
        saved = save_replay(result.failure, args.failure_out)
        out["replay_file"] = str(saved)
        if result.failure.trace is not None:
            trace_file = _trace_path(saved)
            Trace.from_json(result.failure.trace).save(trace_file)
            out["trace_file"] = str(trace_file)
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0 if result.passed else 1
    print(format_table(result.coverage, show_hits=True))
    if args.paths:
        for name, labels in unreachable.items():
            print(f"unreachable in {name}: " + "; ".join(labels))
    print(
        f"{result.examples} examples, {result.steps} steps, {result.runs} sync runs, "
        f"{result.transitions} chart transitions in {result.seconds:.1f}s "
        f"({result.transitions_per_second:,.0f} transitions/s)"
    )
    if "coverage_file" in out:
        print(f"coverage written to {out['coverage_file']}")
    if "report_file" in out:
        print(f"report written to {out['report_file']}")
    if result.failure is None:
        print("every invariant held")
        return 0
    failure = result.failure.failure
    assert failure is not None
    print(
        f"FAILED [{failure.invariant}] at step {failure.step + 1} of "
        f"{len(result.failure.steps)}: {failure.message}",
        file=sys.stderr,
    )
    for index, step in enumerate(result.failure.steps):
        print(f"  {index + 1:>3}. {step}", file=sys.stderr)
    print(f"replay file: {out['replay_file']}", file=sys.stderr)
    if "trace_file" in out:
        print(f"trace file: {out['trace_file']}", file=sys.stderr)
    return 1


def _replay(args: argparse.Namespace) -> int:
    from beacon.testing import load_replay, replay_campaign

    recorded = load_replay(args.replay)
    result = replay_campaign(recorded)
    if args.trace_out is not None and result.trace is not None:
        result.trace.save(args.trace_out)
    expected = recorded.failure
    same = (
        result.failure is not None
        and expected is not None
        and (result.failure.invariant, result.failure.step) == (expected.invariant, expected.step)
    )
    if args.json:
        print(
            json.dumps(
                {
                    "steps": len(recorded.steps),
                    "completed": result.steps,
                    "failure": None if result.failure is None else result.failure.to_json(),
                    "recorded_failure": None if expected is None else expected.to_json(),
                    "reproduced": same,
                    "trace_file": None if args.trace_out is None else str(args.trace_out),
                },
                sort_keys=True,
            )
        )
    else:
        for index, step in enumerate(recorded.steps):
            mark = ">" if result.failure is not None and result.failure.step == index else " "
            print(f"{mark} {index + 1:>3}. {step}")
        if result.failure is None:
            print(f"all {len(recorded.steps)} steps passed every invariant")
        else:
            print(
                f"FAILED [{result.failure.invariant}] at step {result.failure.step + 1}: "
                f"{result.failure.message}"
            )
            if expected is not None:
                print("the recorded failure was reproduced" if same else "a DIFFERENT failure")
        if args.trace_out is not None:
            print(f"trace written to {args.trace_out}")
    return 0 if result.failure is None else 1


def _open_database(url: str) -> ExampleDatabase:
    from beacon.testing import open_database

    return open_database(url)


def _sharding(args: argparse.Namespace) -> bool:
    """Whether a sharded mode was asked for; UsageError for options that do not go together."""
    from beacon._errors import UsageError

    modes = [
        name
        for name, on in (
            ("--replay", args.replay is not None),
            ("--workers", args.workers is not None),
            ("--shard", args.shard is not None),
            ("--merge", args.merge is not None),
        )
        if on
    ]
    if len(modes) > 1:
        raise UsageError(f"{' and '.join(modes)} cannot be combined")
    if args.report_json is not None and args.shard is None:
        raise UsageError("--report-json goes with --shard I/N")
    if args.database is not None and args.merge is not None:
        raise UsageError("--merge reads reports, not an example database")
    if args.paths and modes and modes[0] != "--replay":
        raise UsageError("--paths works with a single-process campaign")
    if modes and modes[0] != "--replay" and args.report is not None:
        raise UsageError(f"{modes[0]} writes shard reports: no --report (HTML) yet")
    if args.database is not None:
        _open_database(args.database)  # a bad URL is refused before anything runs
    return bool(modes) and modes[0] != "--replay"


def _sharded(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from beacon._errors import UsageError
    from beacon.testing import (
        CampaignShards,
        ChartCampaignShards,
        chart_finder,
        load_shard_report,
        merge_reports,
        parse_shard,
        run_shard,
        run_shards,
        save_shard_report,
    )

    find = chart_finder(args.chart)
    if args.merge is not None:
        return _show(merge_reports([load_shard_report(p, find) for p in args.merge]), args)
    world = _world_config(args)
    runner: CampaignShards | ChartCampaignShards = (
        CampaignShards(examples=args.examples, steps=args.steps)
        if world is None
        else CampaignShards(examples=args.examples, steps=args.steps, config=world)
    )
    if args.chart is not None:
        runner = ChartCampaignShards(
            chart=args.chart,
            services=args.services,
            invariants=args.invariants,
            examples=args.examples,
            steps=args.steps,
            guided=not args.blind,
            force=args.force_outcomes,
        )
    err = Console(stderr=True)
    show = not args.json and not getattr(args, "quiet", False) and err.is_terminal
    with Progress(
        TextColumn("exploring"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        disable=not show,
        transient=True,
    ) as progress:
        if args.shard is not None:
            spec = parse_shard(args.shard, base_seed=args.seed)
            task = progress.add_task("examples", total=spec.share(args.examples))
            report = run_shard(
                runner,
                spec,
                args.database,
                on_example=lambda n: progress.update(task, completed=n),
            )
        else:
            if args.examples < args.workers:
                raise UsageError(f"{args.examples} examples cannot be split over {args.workers}")
            task = progress.add_task("examples", total=args.examples)
            merged = run_shards(
                runner,
                workers=args.workers,
                base_seed=args.seed,
                database=args.database,
                on_progress=lambda n: progress.update(task, completed=min(n, args.examples)),
                find=find,
            )
            return _show(merged, args)
    if args.report_json is not None:
        save_shard_report(report, args.report_json)
    if args.json:
        print(json.dumps(report.to_json(), sort_keys=True))
        return 0 if report.passed else 1
    status = _show(merge_reports([report]), args)
    if args.report_json is not None:
        print(f"shard report written to {args.report_json}")
    return status


def _show(merged: ShardedResult, args: argparse.Namespace) -> int:
    """Save the merged coverage and failures; print the merged report (table or JSON)."""
    from beacon.charts import Trace
    from beacon.testing import format_table, parse_chart_replay, parse_replay, save_replay

    out: dict[str, Any] = merged.to_json()
    if args.coverage_out is not None:
        merged.coverage.to_coverage().save(args.coverage_out)
        out["coverage_file"] = str(args.coverage_out)
    saved: list[tuple[ShardReport, Path]] = []
    trace: Mapping[str, Any] | None
    for rank, shard in enumerate(merged.failures):
        path = args.failure_out
        if rank:
            path = path.with_name(f"{path.stem}.shard-{shard.spec.index}{path.suffix}")
        if shard.campaign.get("campaign") == "beacon.chart":
            chart_replay = parse_chart_replay(shard.failure)
            saved.append((shard, chart_replay.save(path)))
            trace = chart_replay.trace
        else:
            replay = parse_replay(shard.failure)
            saved.append((shard, save_replay(replay, path)))
            trace = replay.trace
        if trace is not None:
            Trace.from_json(trace).save(_trace_path(path))
    out["replay_files"] = [str(path) for _, path in saved]
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0 if merged.passed else 1
    print(format_table(merged.coverage, show_hits=True))
    for shard in merged.shards:
        mark = "passed" if shard.passed else "FAILED"
        print(
            f"shard {shard.spec.index}/{shard.spec.count} seed {shard.seed}: "
            f"{shard.counts['examples']} examples, {shard.counts['transitions']} transitions "
            f"in {shard.seconds:.1f}s, {mark}"
        )
    if merged.missing:
        print(f"missing shards: {', '.join(map(str, merged.missing))}")
    print(
        f"{merged.total('examples')} examples, {merged.total('steps')} steps, "
        f"{merged.total('runs')} chart runs, {merged.total('transitions')} chart transitions "
        f"in {merged.seconds:.1f}s ({merged.transitions_per_second:,.0f} transitions/s)"
    )
    if "coverage_file" in out:
        print(f"coverage written to {out['coverage_file']}")
    for name in merged.missed_goals:
        print(f"FAILED: sometimes goal {name!r} was met by no shard", file=sys.stderr)
    if merged.passed:
        print("every invariant held" + (", every goal met" if merged.sometimes else ""))
        return 0
    for shard, path in saved:
        if shard.campaign.get("campaign") == "beacon.chart":
            chart_replay = parse_chart_replay(shard.failure)
            failure, taken = chart_replay.failure, len(chart_replay.description)
        else:
            replay = parse_replay(shard.failure)
            failure, taken = replay.failure, len(replay.steps)
        what = (
            "(no failure recorded)"
            if failure is None
            else f"[{failure.invariant}] at step {failure.step + 1} of {taken}: {failure.message}"
        )
        print(f"FAILED in shard {shard.spec.index} {what}", file=sys.stderr)
        print(f"replay file: {path}", file=sys.stderr)
    return 1
