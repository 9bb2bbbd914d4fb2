"""``beacon explore --chart FILE``: a campaign over a user's own chart.

The services (``--services MODULE:ATTR``: a class or a function returning the service
objects, called once per example) bind the chart's names; whatever they do not offer is
drawn from what the chart declares. ``--invariants MODULE:ATTR`` names one check or a list
of them, called after every step with a ``beacon.testing.ChartView``. A failure is shrunk
and saved as a chart replay file, which ``beacon explore --replay FILE`` runs again.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["run_chart_explore", "run_chart_replay"]


def run_chart_explore(args: argparse.Namespace) -> int:
    """Run the campaign the arguments describe; print the table (or JSON); 0 when it passed."""
    from rich.console import Console

    from beacon._errors import UsageError
    from beacon.charts import Trace
    from beacon.cli.explore import _progress_bar, _progressed, _writable_report
    from beacon.testing import chart_setup, format_table, run_chart_campaign

    if args.live and args.report is None:
        raise UsageError("--live needs --report FILE")
    if args.report is not None:  # refused now, not after a long campaign
        _writable_report(args.report)
    setup = chart_setup(
        args.chart, args.services, args.invariants, steps=args.steps, force=args.force_outcomes
    )
    err = Console(stderr=True)
    show = not args.json and not getattr(args, "quiet", False)
    with _progress_bar(err, args.examples, show=show) as progress:
        result = run_chart_campaign(
            setup,
            examples=args.examples,
            seed=args.seed,
            guided=not args.blind,
            report=args.report,
            live=args.live,
            on_progress=lambda point: _progressed(progress, point),
            services_spec=args.services,
            invariants_spec=args.invariants,
        )
    out = result.to_json()
    if args.report is not None:
        out["report_file"] = str(args.report)
    if args.coverage_out is not None:
        result.coverage.to_coverage().save(args.coverage_out)
        out["coverage_file"] = str(args.coverage_out)
    if result.failure is not None:
        saved = result.failure.save(args.failure_out)
        out["replay_file"] = str(saved)
        if result.failure.trace is not None:
            trace_file = saved.with_name(saved.stem + ".trace.json")
            Trace.from_json(result.failure.trace).save(trace_file)
            out["trace_file"] = str(trace_file)
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0 if result.passed else 1
    print(format_table(result.coverage, show_hits=True))
    goals = out["goals"]
    print(f"coverage goals: {goals['covered']}/{goals['total']} reached")
    for goal in goals["uncovered"]:
        print(f"  ! {goal}")
    print(
        f"{result.examples} examples ({'guided' if result.guided else 'blind'}), "
        f"{result.transitions} transitions in {result.seconds:.1f}s "
        f"({result.transitions_per_second:,.0f} transitions/s); every transition by example "
        f"{result.first_full if result.first_full is not None else '(not reached)'}"
    )
    if "coverage_file" in out:
        print(f"coverage written to {out['coverage_file']}")
    for name in result.missed_goals:
        print(f"FAILED: sometimes goal {name!r} was never met", file=sys.stderr)
    if result.failure is None:
        if result.passed:
            print("every invariant held" + (", every goal met" if result.sometimes else ""))
        return 0 if result.passed else 1
    failure = result.failure.failure
    assert failure is not None
    print(f"FAILED [{failure.invariant}]: {failure.message}", file=sys.stderr)
    _print_steps(result.failure.description)
    print(f"replay file: {out['replay_file']}", file=sys.stderr)
    if "trace_file" in out:
        print(f"trace file: {out['trace_file']}", file=sys.stderr)
    return 1


def _print_steps(steps: Sequence[str]) -> None:
    for index, step in enumerate(steps):
        print(f"  {index + 1:>3}. {step}", file=sys.stderr)


def run_chart_replay(args: argparse.Namespace) -> int:
    """Run a chart replay file again (its chart, services and invariants as recorded, or the
    ones given on the command line)."""
    from beacon.testing import chart_setup, load_chart_replay, replay_chart_campaign

    recorded = load_chart_replay(args.replay)
    services = args.services or recorded.services
    invariants = args.invariants or recorded.invariants
    setup = chart_setup(args.chart or recorded.chart, services, invariants)
    result = replay_chart_campaign(recorded, setup)
    if args.trace_out is not None and result.trace is not None:
        result.trace.save(args.trace_out)
    expected = recorded.failure
    same = (
        result.failure is not None
        and expected is not None
        and result.failure.invariant == expected.invariant
    )
    if args.json:
        print(
            json.dumps(
                {
                    "steps": result.description,
                    "failure": None if result.failure is None else result.failure.to_json(),
                    "recorded_failure": None if expected is None else expected.to_json(),
                    "reproduced": same,
                },
                sort_keys=True,
            )
        )
    else:
        for index, step in enumerate(result.description):
            print(f"  {index + 1:>3}. {step}")
        if result.failure is None:
            print("every invariant held")
        else:
            print(f"FAILED [{result.failure.invariant}]: {result.failure.message}")
            if expected is not None:
                print("the recorded failure was reproduced" if same else "a DIFFERENT failure")
    return 0 if result.failure is None else 1
