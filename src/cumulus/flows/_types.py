"""Checking and coercing pipeline and step parameter values against their annotations (pure).

Only what a parameter of a pipeline can reasonably be is understood: ``None``, ``bool``,
``int``, ``float``, ``str``, ``list``/``tuple``/``dict`` (with or without item types),
``Optional``/``Union``/``X | Y``, ``Literal`` and ``Any``. Anything else is accepted unchecked.

Example::

    >>> check_type(0.5, float), check_type("0.5", float)
    (True, False)
    >>> coerce("0.5", float)
    0.5
"""

from __future__ import annotations

import json
import math
import types
import typing
from typing import Any

JSON_TYPES = "None, bool, int, float, str, or lists/dicts of them"


def describe(annotation: Any) -> str:
    """A short human name for an annotation: ``float``, ``list[int]``, ``int | None``."""
    if annotation is None or annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _origin_args(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    return typing.get_origin(annotation), typing.get_args(annotation)


def check_type(value: Any, annotation: Any) -> bool:
    """True when ``value`` fits ``annotation`` (ints fit floats; bools never fit ints)."""
    if annotation is Any:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin, args = _origin_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(check_type(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if origin in (list, tuple, set, frozenset, dict):
        return _check_container(value, origin, args)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation in (bool, str, list, dict, tuple):
        return isinstance(value, annotation)
    return True  # an annotation we do not understand: accept


def _check_container(value: Any, origin: Any, args: tuple[Any, ...]) -> bool:
    if origin is dict:
        if not isinstance(value, dict):
            return False
        if len(args) != 2:
            return True
        return all(check_type(k, args[0]) and check_type(v, args[1]) for k, v in value.items())
    if not isinstance(value, list | tuple):
        return False
    if not args:
        return True
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return len(args) == len(value) and all(
            check_type(v, a) for v, a in zip(value, args, strict=True))
    return all(check_type(v, args[0]) for v in value)


def coerce(text: str, annotation: Any) -> Any:
    """Turn a command-line string into a value of ``annotation`` (ValueError if it cannot)."""
    if annotation is Any or annotation is str:
        return text
    origin, args = _origin_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        if text.lower() in ("none", "null") and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(text, a)
            except ValueError:
                continue
        raise ValueError(f"{text!r} is not a {describe(annotation)}")
    if annotation is bool:
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"{text!r} is not a bool (use true/false)")
    if annotation is int:
        return int(text)
    if annotation is float:
        return float(text)
    if origin is typing.Literal:
        for a in args:
            if str(a) == text:
                return a
        raise ValueError(f"{text!r} is not one of {', '.join(repr(a) for a in args)}")
    if origin in (list, tuple, dict) or annotation in (list, tuple, dict):
        value = json.loads(text)
        if not check_type(value, annotation):
            raise ValueError(f"{text!r} is not a {describe(annotation)}")
        return value
    return _guess(text)


def _guess(text: str) -> Any:
    """Without a usable annotation: JSON if it parses (numbers, lists, true), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def json_problem(value: Any, path: str = "") -> str | None:
    """None when ``value`` is plain JSON data, else where and what the offending value is."""
    if value is None or isinstance(value, bool | int | str):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path or 'value'} is {value!r}"
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            problem = json_problem(v, f"{path}[{i}]")
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                return f"{path or 'value'} has a non-string key {k!r}"
            problem = json_problem(v, f"{path}[{k!r}]")
            if problem:
                return problem
        return None
    return f"{path or 'value'} is a {type(value).__name__}"


def canonical(value: Any) -> Any:
    """JSON-normal form: tuples become lists (what a step receives after the round trip)."""
    return json.loads(json.dumps(value))
