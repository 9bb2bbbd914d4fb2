"""The benchmark modules import, and a tiny run of each of ours works (nothing here is timed)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench_package(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # `bench/` is a top-level directory of the repository, not part of the installed wheel.
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("bench")


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"bench.{name}")


def _check_figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = result["figures"]
    assert figures
    for fig in figures:
        assert isinstance(fig["value"], int | float)
        assert fig["value"] > 0
        assert set(fig) >= {"name", "unit", "baseline", "ratio", "target", "met"}
    json.dumps(result)  # results.json must be able to hold it
    return figures


@pytest.mark.usefixtures("bench_package")
def test_crypto_tiny_run_compares_against_the_bare_loop() -> None:
    figures = _check_figures(_module("crypto").run(records=20, rounds=1))
    assert {f["name"] for f in figures} == {"decrypt-and-verify", "encrypt"}
    assert all(f["baseline"] > 0 and f["ratio"] > 0 for f in figures)


@pytest.mark.usefixtures("bench_package")
def test_local_edits_tiny_run_compares_put_many_with_a_bare_executemany() -> None:
    figures = _check_figures(_module("local_edits").run(records=30, rounds=2))
    by_name = {f["name"]: f for f in figures}
    assert set(by_name) == {
        "bulk local edits (put_many)",
        "put_many vs bare executemany",
        "put, one transaction each",
    }
    assert by_name["bulk local edits (put_many)"]["target"] == ">= 20000"
    assert by_name["put_many vs bare executemany"]["baseline_name"] == "bare SQLite executemany"


@pytest.mark.usefixtures("bench_package")
def test_bare_crypto_loop_interoperates_with_beacon() -> None:
    from beacon._crypto import KeyBundle, decrypt_record

    crypto = _module("crypto")
    bundle = KeyBundle.generate()
    record = crypto.make_records(1)[0]
    payload = crypto.bare_encrypt(bundle.encryption_key, bundle.hmac_key, record, bytes(16))
    assert decrypt_record(bundle, payload) == record


@pytest.mark.usefixtures("bench_package")
def test_runner_writes_results_and_marks_absent_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = _module("__main__")
    monkeypatch.setattr(
        runner,
        "BENCHMARKS",
        (*runner.BENCHMARKS[:1], ("nothing", "bench.no_such_benchmark", "absent on purpose")),
    )
    out = tmp_path / "results.json"
    status = runner.main(["--quick", "--out", str(out)])
    assert status == 0
    results = json.loads(out.read_text())
    assert results["benchmarks"]["nothing"] == {"status": "absent"}
    assert results["benchmarks"]["crypto"]["status"] == "ok"
    table = capsys.readouterr().out
    assert "decrypt-and-verify" in table
    assert "module absent" in table


@pytest.mark.usefixtures("bench_package")
def test_every_present_benchmark_module_imports_and_has_run() -> None:
    runner = _module("__main__")
    present = [m for _, m, _ in runner.BENCHMARKS if (REPO / f"{m.replace('.', '/')}.py").exists()]
    assert "bench.crypto" in present
    for name in present:
        assert callable(importlib.import_module(name).run)


@pytest.mark.usefixtures("bench_package")
def test_requests_tiny_run_counts_one_request_for_a_no_change_sync() -> None:
    result = _module("requests").run(repeats=2, records=2)
    figures = {f["name"]: f for f in _check_figures(result)}
    assert figures["requests per no-change sync"]["value"] == 1.0
    assert figures["requests per no-change sync"]["met"] is True
    assert result["requests"]["first_sync"][0].startswith("GET /1.0/sync/1.5 200")
    assert len(result["requests"]["no_change_sync"]) == 1


@pytest.mark.usefixtures("bench_package")
def test_download_tiny_run_goes_through_a_server_process() -> None:
    result = _module("download").run(small=20, large=60)
    figures = _check_figures(result)
    units = ["records/s", "µs", "records/s", "MiB", "records/s", "µs", "records/s", "ms", "µs"]
    assert [f["unit"] for f in figures] == units
    rounds = result["downloads"]["60"]
    assert [(d["finished"], d["records"]) for d in rounds] == [(True, 60)] * 2
    assert rounds[0]["requests"] >= result["downloads"]["20"]["requests"]
    assert [a["records"] for a in result["anchors"]] == [60] * 2  # one anchor round per round
    assert figures[0]["ratio"] > 0  # the download against its serial floor


@pytest.mark.usefixtures("bench_package")
def test_charts_tiny_run_compares_beacon_with_bare_python_statemachine() -> None:
    # Its generated chart must pass beacon's load checks (a final without a role once failed).
    figure, cold, warm = _check_figures(_module("charts").run(quick=True))
    assert figure["baseline"] > 0
    assert figure["ratio"] > 0
    for load in (cold, warm):
        assert load["baseline_name"] == "statemachine.io.load"
        assert load["value"] > 0
        assert load["ratio"] > 0
