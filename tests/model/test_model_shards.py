"""Sharded campaigns: shards on one example database merge into one report, share failures,
and repeat exactly; ``beacon explore --workers/--shard/--merge`` end to end.

Every campaign here is small (a few examples of five steps); the planted bug is found by a
focused campaign of ten examples, and the shard that only replays it runs two.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from pathlib import Path

import fakeredis
import pytest
from hypothesis.database import (
    DirectoryBasedExampleDatabase,
    ExampleDatabase,
    InMemoryExampleDatabase,
)
from hypothesis.extra.redis import RedisExampleDatabase

from beacon import UsageError
from beacon.charts import Coverage
from beacon.cli import main
from beacon.testing import (
    SYNC_CHARTS,
    CampaignShards,
    DatabaseUnavailable,
    ShardReport,
    ShardSpec,
    database_key,
    load_replay,
    load_shard_report,
    merge_reports,
    open_database,
    parse_shard,
    parse_shard_report,
    run_campaign,
    run_shard,
    run_shards,
    save_shard_report,
    shard_seed,
)
from tests.model.planted_bugs import PLANTED
from tests.model.test_model_planted_bugs import FOCUS

BUG = "token_kept_on_401"
STEPS = 5
#: Enough shrinking to show the shared example is the shrunk one, little enough to stay fast.
SHRINK_RUNS = 5


def _hits(report: ShardReport) -> dict[str, dict[str, int]]:
    return report.coverage.hits()


def test_shard_seeds_are_distinct_and_shard_zero_keeps_the_campaigns_seed() -> None:
    seeds = [shard_seed(7, i) for i in range(64)]
    assert seeds[0] == 7
    assert len(set(seeds)) == 64
    assert shard_seed(7, 1) != shard_seed(8, 1)
    assert [ShardSpec(i, 3).share(10) for i in range(3)] == [4, 3, 3]


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/2", "x", "1", "1/2/3", "a/b", ""])
def test_a_bad_shard_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="shard"):
        parse_shard(text)


def test_two_shards_on_one_database_merge_to_the_union_of_their_coverage(
    tmp_path: Path,
) -> None:
    runner = CampaignShards(examples=8, steps=STEPS)
    db = DirectoryBasedExampleDatabase(tmp_path / "examples")
    a = run_shard(runner, ShardSpec(0, 2, base_seed=3), db)
    b = run_shard(runner, ShardSpec(1, 2, base_seed=3), db)
    assert a.passed
    assert b.passed
    assert (a.seed, b.seed) == (3, shard_seed(3, 1))
    assert _hits(a) != _hits(b)  # different seeds explored differently: the union means something

    merged = merge_reports([b, a])
    assert [s.spec.index for s in merged.shards] == [0, 1]
    assert merged.missing == []
    for chart in SYNC_CHARTS:
        for tid, hits in merged.coverage.hits()[chart].items():
            assert hits == _hits(a)[chart][tid] + _hits(b)[chart][tid], (chart, tid)
        assert (
            merged.coverage.outcomes[chart]
            == a.coverage.outcomes[chart] + (b.coverage.outcomes[chart])
        )
        assert merged.coverage.taken(chart) == len(
            {t for t, n in _hits(a)[chart].items() if n}
            | {t for t, n in _hits(b)[chart].items() if n}
        )
    for name in ("examples", "steps", "runs", "transitions"):
        assert merged.total(name) == a.counts[name] + b.counts[name] > 0
    assert merged.total("examples") == 8
    assert merged.coverage.runs == a.coverage.runs + b.coverage.runs
    assert merged.coverage.chart_runs == a.coverage.chart_runs + b.coverage.chart_runs

    # Through the files a job writes, the merge is the same.
    loaded = [
        load_shard_report(save_shard_report(r, tmp_path / f"shard-{r.spec.index}.json"))
        for r in (a, b)
    ]
    again = merge_reports(loaded)
    assert again.coverage.hits() == merged.coverage.hits()
    assert again.coverage.outcomes == merged.coverage.outcomes
    assert again.coverage.to_coverage().runs == merged.coverage.to_coverage().runs
    assert again.to_json()["per_shard"] == merged.to_json()["per_shard"]


def test_run_shards_runs_each_shard_in_its_own_process_and_merges_them() -> None:
    seen: list[ShardReport] = []
    progress: list[int] = []
    merged = run_shards(
        CampaignShards(examples=4, steps=4),
        workers=2,
        base_seed=5,
        on_shard=seen.append,
        on_progress=progress.append,
    )
    assert merged.passed
    assert sorted(s.seed for s in merged.shards) == sorted([5, shard_seed(5, 1)])
    assert merged.total("examples") == 4
    assert progress[-1:] == [4]
    assert len(seen) == 2
    expected: Counter[str] = Counter()
    for report in seen:
        expected.update(report.coverage.transitions["session"])
    assert +merged.coverage.transitions["session"] == +expected
    assert merged.seconds > 0
    assert all(s.cpu_seconds > 0 for s in merged.shards)


def _fake_redis() -> ExampleDatabase:
    return RedisExampleDatabase(fakeredis.FakeRedis())


@pytest.mark.parametrize(
    "make_db",
    [
        pytest.param(lambda tmp: DirectoryBasedExampleDatabase(tmp / "db"), id="directory"),
        pytest.param(lambda tmp: _fake_redis(), id="redis"),
    ],
)
def test_a_failure_one_shard_saves_is_replayed_by_another_from_the_shared_database(
    make_db: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert callable(make_db)
    plant, invariants = PLANTED[BUG]
    plant(monkeypatch)
    config = FOCUS[BUG]
    hunter = CampaignShards(examples=20, steps=STEPS, config=config, shrink_runs=SHRINK_RUNS)
    # Shard 1 runs two examples: too few to find the bug by itself.
    replayer = CampaignShards(examples=4, steps=STEPS, config=config, shrink_runs=SHRINK_RUNS)
    alone = run_shard(replayer, ShardSpec(1, 2), InMemoryExampleDatabase())
    assert alone.passed, alone.failure

    shared = make_db(tmp_path)
    found = run_shard(hunter, ShardSpec(0, 2), shared)
    assert not found.passed
    assert found.failure is not None
    assert found.failure["failure"]["invariant"] in invariants

    replayed = run_shard(replayer, ShardSpec(1, 2), shared)
    assert not replayed.passed
    assert replayed.failure is not None
    assert replayed.failure["failure"]["invariant"] == found.failure["failure"]["invariant"]
    assert replayed.failure["steps"] == found.failure["steps"]  # the saved, shrunk example
    assert replayed.failure["seed"] == shard_seed(0, 1) != found.failure["seed"]

    # Another configuration on the same store never sees that example: the key names it.
    other = dataclasses.replace(config, crash_max=config.crash_max - 1)  # no crash rule: same
    assert database_key(other, steps=STEPS) != database_key(config, steps=STEPS)
    assert database_key(config, steps=STEPS) != database_key(config, steps=STEPS + 1)
    assert database_key(config, steps=STEPS) == database_key(
        dataclasses.replace(config, seed=99), steps=STEPS
    )
    elsewhere = dataclasses.replace(replayer, config=other)
    assert run_shard(elsewhere, ShardSpec(1, 2), shared).passed


def test_the_same_seed_and_build_give_a_byte_identical_trace_and_coverage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plant, _ = PLANTED[BUG]
    plant(monkeypatch)
    runner = CampaignShards(examples=20, steps=STEPS, config=FOCUS[BUG], shrink_runs=SHRINK_RUNS)
    first, second = (run_shard(runner, ShardSpec(0, 2)) for _ in range(2))
    assert first.failure is not None
    assert second.failure is not None
    trace = json.dumps(first.failure["trace"], sort_keys=True)
    assert trace == json.dumps(second.failure["trace"], sort_keys=True)
    assert len(trace) > 1000  # a real chart trace, not an empty one
    assert first.failure == second.failure
    assert _hits(first) == _hits(second)
    assert first.coverage.outcomes == second.coverage.outcomes
    assert first.counts == second.counts


def test_a_passing_shard_repeats_its_coverage_exactly() -> None:
    runner = CampaignShards(examples=6, steps=STEPS)
    first, second = (run_shard(runner, ShardSpec(1, 3, base_seed=4)) for _ in range(2))
    assert first.passed
    assert second.passed
    assert _hits(first) == _hits(second)
    assert first.counts == second.counts


def test_merging_refuses_reports_of_different_campaigns_or_a_shard_twice() -> None:
    a = run_shard(CampaignShards(examples=2, steps=2), ShardSpec(0, 2))
    b = run_shard(CampaignShards(examples=2, steps=3), ShardSpec(1, 2))
    with pytest.raises(UsageError, match="another campaign"):
        merge_reports([a, b])
    with pytest.raises(UsageError, match="given twice"):
        merge_reports([a, a])
    with pytest.raises(UsageError, match="no shard reports"):
        merge_reports([])
    partial = merge_reports([a])
    assert partial.missing == [1]


def test_database_urls_open_the_right_store_or_name_the_accepted_forms(tmp_path: Path) -> None:
    assert isinstance(open_database(f"dir:{tmp_path / 'a'}"), DirectoryBasedExampleDatabase)
    assert isinstance(open_database(str(tmp_path / "b")), DirectoryBasedExampleDatabase)
    assert isinstance(open_database("redis://localhost:6379/0"), RedisExampleDatabase)
    (tmp_path / "file").write_text("")
    for bad in [
        "ftp://host/x",
        "dir:",
        "",
        "redis://",
        "redis://h:port/0",
        "redis://h/x",
        str(tmp_path / "file"),
    ]:
        with pytest.raises(UsageError, match="example database"):
            open_database(bad)


def test_an_unreachable_redis_store_stops_the_campaign_instead_of_failing_it() -> None:
    from redis import Redis

    down = RedisExampleDatabase(Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    with pytest.raises(DatabaseUnavailable, match="ConnectionError") as info:
        run_campaign(examples=1, steps=2, database=down)
    assert "127.0.0.1" not in str(info.value)


def test_explore_workers_prints_one_merged_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coverage = tmp_path / "coverage.json"
    argv = ["explore", "--workers", "2", "--examples", "4", "--steps", "4", "--seed", "1"]
    argv += ["--json", "--coverage-out", str(coverage), "--database", f"dir:{tmp_path / 'db'}"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True
    assert out["merged"] == [0, 1]
    assert [s["seed"] for s in out["per_shard"]] == [1, shard_seed(1, 1)]
    assert out["examples"] == sum(s["examples"] for s in out["per_shard"]) == 4
    assert out["failures"] == []
    assert sum(Coverage.load(coverage).hits["session"].values()) > 0


def test_explore_shard_reports_merge_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"dir:{tmp_path / 'db'}"
    files = [tmp_path / f"shard-{i}.json" for i in range(2)]
    common = ["--examples", "4", "--steps", "3", "--seed", "2", "--database", db]
    assert main(["explore", "--shard", "0/2", *common, "--report-json", str(files[0])]) == 0
    assert "shard report written to" in capsys.readouterr().out
    assert main(["explore", "--shard", "1/2", *common, "--json"]) == 0
    files[1].write_text(capsys.readouterr().out)
    shards = [load_shard_report(f) for f in files]

    coverage = tmp_path / "merged-coverage.json"
    argv = ["explore", "--merge", *map(str, files), "--json", "--coverage-out", str(coverage)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["examples"] == 4
    assert out["transitions"] == sum(s.counts["transitions"] for s in shards)
    session = Coverage.load(coverage).hits["session"]
    for tid, entry in out["coverage"]["charts"]["session"]["transitions"].items():
        assert entry["hits"] == sum(_hits(s)["session"][tid] for s in shards)
        assert session.get(tid, 0) == entry["hits"]

    assert main(["explore", "--merge", str(files[0])]) == 0  # one shard of two: said so
    assert "missing shards: 1" in capsys.readouterr().out


def test_a_failing_shard_exits_1_and_saves_its_replay_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plant, invariants = PLANTED[BUG]
    plant(monkeypatch)
    focused = functools.partial(CampaignShards, config=FOCUS[BUG], shrink_runs=SHRINK_RUNS)
    monkeypatch.setattr("beacon.testing.CampaignShards", focused)
    failure = tmp_path / "failure.json"
    report = tmp_path / "shard.json"
    argv = ["explore", "--shard", "0/1", "--examples", "10", "--steps", str(STEPS)]
    argv += ["--failure-out", str(failure), "--report-json", str(report)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "FAILED in shard 0 [" in err
    replay = load_replay(failure)
    assert replay.failure is not None
    assert replay.failure.invariant in invariants
    assert not load_shard_report(report).passed
    assert failure.with_name("failure.trace.json").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shard", "2/2"], "0 <= index < count"),
        (["--shard", "one/two"], "expected I/N"),
        (["--database", "ftp://x"], "unsupported example database"),
        (["--workers", "2", "--database", "redis://"], "names no host"),
        (["--workers", "2", "--shard", "0/2"], "cannot be combined"),
        (["--report-json", "r.json"], "goes with --shard"),
        (["--workers", "3", "--examples", "2"], "cannot be split"),
        (["--merge", "missing.json"], "cannot read shard report"),
        (["--workers", "2", "--paths"], "single-process"),
    ],
)
def test_bad_sharding_arguments_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explore", "--examples", "1", "--steps", "1", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("beacon: error: usage:")
    assert message in err
    assert err.count("\n") == 1


def test_a_malformed_shard_report_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = run_shard(CampaignShards(examples=1, steps=1), ShardSpec(0, 1))
    data = good.to_json()
    cases = {
        "not-json": "{",
        "wrong-format": json.dumps({**data, "format": "x"}),
        "bad-seed": json.dumps({**data, "seed": data["seed"] + 1}),
        "bad-hits": json.dumps({**data, "coverage": {**data["coverage"], "runs": -1}}),
        "failed-without-failure": json.dumps({**data, "passed": False}),
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        assert main(["explore", "--merge", str(path)]) == 2, name
        assert "shard report" in capsys.readouterr().err, name
    stale = {**data, "coverage": json.loads(json.dumps(data["coverage"]))}
    stale["coverage"]["charts"]["session"]["transitions"]["nowhere#0"] = {"label": "x", "hits": 1}
    with pytest.raises(UsageError, match="other transitions"):
        parse_shard_report(stale)
