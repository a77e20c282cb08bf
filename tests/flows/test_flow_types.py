"""Parameter type checks and command-line coercion (pure, literals)."""

from __future__ import annotations

import typing
from typing import Any, Literal

import pytest

from cumulus.flows._types import canonical, check_type, coerce, describe, json_problem


@pytest.mark.parametrize(("value", "annotation", "ok"), [
    (0.5, float, True), (3, float, True), (True, float, False), ("0.5", float, False),
    (3, int, True), (True, int, False), (3.0, int, False), ("x", str, True),
    (None, int | None, True), (1, int | None, True), ("1", typing.Optional[int], False),  # noqa: UP045
    ([1, 2], list[int], True), ([1, "2"], list[int], False), ((1, "a"), tuple[int, str], True),
    ((1,), tuple[int, str], False), ({"a": 1}, dict[str, int], True),
    ({"a": "b"}, dict[str, int], False), ("adam", Literal["adam", "sgd"], True),
    ("rms", Literal["adam", "sgd"], False), (object(), Any, True), ({"x": 1}, dict, True),
])
def test_check_type(value: Any, annotation: Any, ok: bool) -> None:
    assert check_type(value, annotation) is ok


def test_coerce_from_command_line_strings() -> None:
    assert coerce("0.05", float) == 0.05
    assert coerce("3", int) == 3
    assert coerce("yes", bool) is True and coerce("false", bool) is False
    assert coerce("none", int | None) is None and coerce("4", int | None) == 4
    assert coerce("[1, 2]", list[int]) == [1, 2]
    assert coerce("sgd", Literal["adam", "sgd"]) == "sgd"
    assert coerce("3", Any) == "3"
    with pytest.raises(ValueError):
        coerce("abc", float)
    with pytest.raises(ValueError):
        coerce("maybe", bool)
    with pytest.raises(ValueError):
        coerce('["a"]', list[int])


def test_json_problem_and_canonical() -> None:
    assert json_problem({"a": [1, 2.5, None, "x", True]}) is None
    assert json_problem({"a": object()}).startswith("['a'] is a object")  # type: ignore[union-attr]
    assert json_problem(float("nan")) == "value is nan"
    assert json_problem({1: 2}) == "value has a non-string key 1"
    assert canonical((1, (2, 3))) == [1, [2, 3]]
    assert describe(float) == "float" and describe(int | None) == "int | None"
