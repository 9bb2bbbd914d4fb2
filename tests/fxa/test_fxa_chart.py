"""The account chart loads, checks and is complete against its service."""

from __future__ import annotations

from beacon.charts import chart_path, check_chart
from beacon.cli import main
from beacon.fxa import ACCOUNT_CHART_SERVICES


def test_the_account_chart_is_complete_with_its_service() -> None:
    services: list[object] = [object.__new__(cls) for cls in ACCOUNT_CHART_SERVICES["account"]]
    findings = check_chart(chart_path("account"), services)
    assert [f for f in findings if f.severity == "error"] == []


def test_beacon_chart_check_binds_the_account_service_by_itself() -> None:
    assert main(["chart", "check", str(chart_path("account"))]) == 0


def test_an_unhandled_outcome_would_be_found() -> None:
    class Broken(ACCOUNT_CHART_SERVICES["account"][0]):  # type: ignore[misc]
        pass

    from beacon.charts import action

    Broken.fetch_keys = action("ok", "surprise")(lambda self: "ok")
    findings = check_chart(chart_path("account"), [object.__new__(Broken)])
    assert any("surprise" in str(f) for f in findings if f.severity == "error")
