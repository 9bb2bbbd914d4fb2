"""The one parser of untrusted JSON and header numbers: every failure is a ProtocolViolation."""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beacon._errors import ProtocolViolation
from beacon._parse import MAX_DEPTH, json_or_none, parse_json, parse_seconds

HOSTILE = [
    pytest.param(b"[" * 5000 + b"]" * 5000, id="nested-5000"),
    pytest.param(b'{"a":' * 5000 + b"1" + b"}" * 5000, id="objects-5000"),
    pytest.param(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), id="one-level-too-deep"),
    pytest.param(b"NaN", id="nan"),
    pytest.param(b"[Infinity]", id="infinity"),
    pytest.param(b"1e400", id="float-overflow"),
    pytest.param(b"1" + b"0" * 400, id="int-beyond-float"),
    pytest.param(b"1" + b"0" * 5000, id="int-of-5000-digits"),
    pytest.param(b'"\\ud800"', id="lone-surrogate"),
    pytest.param(b'"\xff\xfe"', id="not-utf8"),
    pytest.param(b'{"a": 1', id="truncated"),
    pytest.param(b"[1] [2]", id="trailing"),
    pytest.param(b"", id="empty"),
]


@pytest.mark.parametrize("data", HOSTILE)
def test_hostile_json_is_a_protocol_violation_never_a_python_error(data: bytes) -> None:
    with pytest.raises(ProtocolViolation) as caught:
        parse_json(data, "info/collections")
    assert str(caught.value).startswith("info/collections: ")
    assert caught.value.__context__ is None  # no parser error (holding the input) rides along
    assert json_or_none(data) is None


def test_the_depth_limit_leaves_room_for_recursive_consumers_at_any_stack_depth() -> None:
    deepest = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    value = parse_json(deepest)

    def far_down(n: int) -> Any:  # parse from deep inside a call stack, as a chart action does
        return far_down(n - 1) if n else copy.deepcopy(parse_json(deepest))

    assert far_down(sys.getrecursionlimit() // 3) == value
    assert json.loads(json.dumps(value)) == value


def test_the_message_never_echoes_the_input() -> None:
    secret = b'{"id": "SECRET-TOKEN", "key": ' + b"[" * 5000
    with pytest.raises(ProtocolViolation) as caught:
        parse_json(secret, "the token response")
    assert "SECRET" not in str(caught.value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_the_stdlib_writes_is_read_back(value: Any) -> None:
    assert parse_json(json.dumps(value)) == value
    assert parse_json(json.dumps(value, ensure_ascii=False).encode()) == value


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_a_protocol_violation(data: bytes) -> None:
    try:
        value = parse_json(data)
    except ProtocolViolation:
        assert json_or_none(data) is None
    else:
        assert json_or_none(data) == value


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1388635807.41", 1388635807.41), ("0.00", 0.0), ("10", 10.0), (" 12.5 ", 12.5)],
)
def test_header_seconds_are_plain_decimals(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["1e13", "-1", "1_000", "nan", "inf", "0x10", "", "1.2.3", "1" * 16, "١٢", "+5", None],
)
def test_anything_else_is_not_a_header_number(text: str | None) -> None:
    assert parse_seconds(text) is None
