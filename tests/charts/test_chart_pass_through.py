"""The library's own callables (guard expressions, assign, donedata) are called without its
signature adapter when they take ``(*args, **kwargs)``, and only then."""

from __future__ import annotations

from typing import Any

from statemachine.dispatcher import callable_method

from beacon.charts import _dispatch, bind, load_chart
from tests.charts.chart_services import DOOR, DoorService, FakeClock


def _any(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


def _state_only(state: Any) -> Any:
    return state


def _named(*args: Any, **options: Any) -> Any:
    return options


def test_an_adapter_around_a_pass_through_callable_gives_that_callable() -> None:
    assert _dispatch.pass_through(callable_method(_any)) is _any


def test_other_signatures_and_other_callables_keep_the_adapter() -> None:
    # The adapter picks the arguments a narrower callable takes, or holds back keyword
    # arguments named like its parameters: calling past it would change what is passed.
    assert _dispatch.pass_through(callable_method(_state_only)) is None
    assert _dispatch.pass_through(callable_method(_named)) is None
    assert _dispatch.pass_through(_any) is None


def test_a_reused_door_calls_no_callback_through_the_adapter() -> None:
    chart = load_chart(DOOR)
    first = bind(chart, [DoorService(jams=1)], clock=FakeClock())
    first.send("open")  # guards (retries < 2) and an assign run
    first.close()
    machine = bind(chart, [DoorService(jams=1)], clock=FakeClock())
    machine.start()
    sm = machine._sm
    assert sm is not None
    adapters = [
        w.unique_key
        for executor in sm._callbacks._registry.values()
        for w in executor.items
        if getattr(getattr(w._callback, "__code__", None), "co_name", "") == "signature_adapter"
    ]
    assert adapters == []
    machine.send("open")
    assert machine.snapshot()["datamodel"] == {"retries": 1}
    assert "opened" in machine.configuration
