"""Parameter expressions and search spaces for sweeps.

An expression describes how one hyperparameter is drawn. The names and semantics follow Azure ML's
HyperDrive so that its tutorials translate line by line; in particular the bounds of
``loguniform`` / ``qloguniform`` are *exponents*: ``loguniform(-6, -1)`` draws values between
``e**-6`` and ``e**-1``.

Every expression is a frozen, hashable dataclass that validates its arguments eagerly, draws with
``sample(rng)``, maps the unit interval onto its values with ``ppf(u)`` (used by quasi-random
samplers), round-trips through ``to_dict()`` / :func:`expression_from_dict` (also from the string
form ``"loguniform(-6, -1)"``, parsed without ``eval``) and, where one exists, maps onto an Optuna
distribution for model-based samplers.

Example::

    space = SearchSpace({"--lr": loguniform(-6, -1), "--batch": choice(16, 32, 64)})
    space.sample(numpy.random.default_rng(0))   # {'--lr': 0.0598..., '--batch': 32}
    expression_from_dict("quniform(0, 1, 0.25)") == quniform(0, 1, 0.25)   # True
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from cumulus.errors import SweepError, allowed_list, did_you_mean

from ._expressions import (
    Choice,
    LogNormal,
    LogUniform,
    Normal,
    ParameterExpression,
    QLogNormal,
    QLogUniform,
    QNormal,
    QUniform,
    RandInt,
    Uniform,
    Value,
)

# --------------------------------------------------------------------------- constructors


def choice(*values: Any) -> Choice:
    """One of ``values``; a single list/tuple/range argument is taken as the values."""
    if len(values) == 1 and isinstance(values[0], (list, tuple, range)):
        values = tuple(values[0])
    return Choice(tuple(values))


def randint(upper: int) -> RandInt:
    """An integer in ``[0, upper)``."""
    return RandInt(upper)


def uniform(min_value: float, max_value: float) -> Uniform:
    """A float uniformly between ``min_value`` and ``max_value``."""
    return Uniform(min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> QUniform:
    """``round(uniform(min_value, max_value) / q) * q``."""
    return QUniform(min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> LogUniform:
    """``exp(uniform(min_value, max_value))`` — the bounds are exponents."""
    return LogUniform(min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> QLogUniform:
    """``round(exp(uniform(min_value, max_value)) / q) * q`` — the bounds are exponents."""
    return QLogUniform(min_value, max_value, q)


def normal(mu: float, sigma: float) -> Normal:
    """A float from a normal distribution."""
    return Normal(mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> QNormal:
    """``round(normal(mu, sigma) / q) * q``."""
    return QNormal(mu, sigma, q)


def lognormal(mu: float, sigma: float) -> LogNormal:
    """``exp(normal(mu, sigma))``."""
    return LogNormal(mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> QLogNormal:
    """``round(exp(normal(mu, sigma)) / q) * q``."""
    return QLogNormal(mu, sigma, q)


_FACTORIES: dict[str, Any] = {
    "choice": choice, "randint": randint, "uniform": uniform, "quniform": quniform,
    "loguniform": loguniform, "qloguniform": qloguniform, "normal": normal, "qnormal": qnormal,
    "lognormal": lognormal, "qlognormal": qlognormal,
}
_PARAMS: dict[str, tuple[str, ...]] = {
    "choice": ("values",), "randint": ("upper",),
    "uniform": ("min_value", "max_value"), "loguniform": ("min_value", "max_value"),
    "quniform": ("min_value", "max_value", "q"), "qloguniform": ("min_value", "max_value", "q"),
    "normal": ("mu", "sigma"), "lognormal": ("mu", "sigma"),
    "qnormal": ("mu", "sigma", "q"), "qlognormal": ("mu", "sigma", "q"),
}
_ALIASES = {"min": "min_value", "max": "max_value", "low": "min_value", "high": "max_value",
            "options": "values"}
EXPRESSION_TYPES: tuple[str, ...] = tuple(_FACTORIES)


# --------------------------------------------------------------------------- parsing


def _build(type_name: Any, args: Sequence[Any], kwargs: Mapping[str, Any],
           source: Any) -> ParameterExpression:
    name = str(type_name).strip().lower()
    if name not in _FACTORIES:
        raise SweepError(f"unknown parameter expression type {type_name!r} in {source!r}; "
                         f"allowed: {allowed_list(_FACTORIES)}.{did_you_mean(name, _FACTORIES)}")
    allowed = _PARAMS[name]
    named: dict[str, Any] = {}
    for key, value in kwargs.items():
        canonical = _ALIASES.get(key, key)
        if canonical not in allowed:
            raise SweepError(f"{name}() has no argument {key!r} (in {source!r}); allowed: "
                             f"{allowed_list(allowed)}.{did_you_mean(key, allowed)}")
        named[canonical] = value
    if name == "choice" and "values" in named:
        args = [*args, named.pop("values")]
    try:
        return _FACTORIES[name](*args, **named)
    except TypeError as exc:
        raise SweepError(f"{name}() takes arguments {', '.join(allowed)}; got {source!r} "
                         f"({exc}).") from None


def _parse_string(text: str) -> ParameterExpression:
    hint = "expected a form like 'uniform(0, 1)' or 'choice(16, 32, 64)'"
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise SweepError(f"cannot parse parameter expression {text!r}: {hint}.") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise SweepError(f"cannot parse parameter expression {text!r}: {hint}.")
    try:
        args = [ast.literal_eval(node) for node in call.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}
    except (ValueError, TypeError, SyntaxError):
        raise SweepError(f"cannot parse parameter expression {text!r}: arguments must be "
                         f"literals (numbers, strings, lists); {hint}.") from None
    if any(isinstance(node, ast.Starred) for node in call.args) or len(kwargs) != len(
            call.keywords):
        raise SweepError(f"cannot parse parameter expression {text!r}: {hint}.")
    return _build(call.func.id, args, kwargs, text)


def expression_from_dict(data: Any) -> ParameterExpression:
    """Parse an expression from its stored form.

    Accepts an expression (returned as is), a dict ``{"type": "loguniform", "args": [-6, -1]}``
    (named arguments such as ``{"type": "uniform", "min_value": 0, "max_value": 1}`` or
    ``{"type": "choice", "values": [1, 2]}`` work too), or a string ``"loguniform(-6, -1)"``.

    Example::

        expression_from_dict({"type": "choice", "args": [16, 32]}) == choice(16, 32)   # True
    """
    if isinstance(data, ParameterExpression):
        return data
    if isinstance(data, str):
        return _parse_string(data)
    if isinstance(data, Mapping):
        if "type" not in data:
            raise SweepError(f"a parameter expression dict needs a 'type' key, got {dict(data)!r};"
                             f" example: {{'type': 'uniform', 'args': [0, 1]}}.")
        args = data.get("args", [])
        if not isinstance(args, (list, tuple)):
            raise SweepError(f"'args' of a parameter expression must be a list, got {args!r}.")
        kwargs = {str(k): v for k, v in data.items() if k not in ("type", "args")}
        return _build(data["type"], args, kwargs, dict(data))
    raise SweepError(f"cannot read a parameter expression from {data!r} "
                     f"({type(data).__name__}); expected a dict like {{'type': 'uniform', "
                     f"'args': [0, 1]}} or a string like 'uniform(0, 1)'.")


def _coerce(name: str, value: Any) -> ParameterExpression:
    if isinstance(value, (list, tuple, range)):
        return choice(list(value))
    try:
        return expression_from_dict(value)
    except SweepError as exc:
        raise SweepError(f"parameter {name!r}: {exc}") from None


# --------------------------------------------------------------------------- search space


def _check_name(name: Any, seen: dict[str, str]) -> str:
    if not isinstance(name, str) or not name.strip("-"):
        raise SweepError(f"parameter names must be non-empty strings such as '--lr' or 'lr', "
                         f"got {name!r}.")
    if any(ch.isspace() for ch in name) or "=" in name:
        raise SweepError(f"parameter name {name!r} must not contain whitespace or '='.")
    bare = name.lstrip("-")
    if bare in seen:
        raise SweepError(f"parameters {seen[bare]!r} and {name!r} name the same argument; "
                         f"keep one of them.")
    seen[bare] = name
    return name


class SearchSpace(Mapping[str, ParameterExpression]):
    """An immutable, validated mapping of parameter name -> expression.

    Names are script arguments (``"--lr"``) or plain names (``"lr"``). Values may be expressions,
    their dict/string forms, or a list (shorthand for ``choice``).

    Example::

        space = SearchSpace({"--lr": loguniform(-6, -1), "--batch": [16, 32, 64]})
        space["--batch"]                      # Choice(values=(16, 32, 64))
        SearchSpace.from_dict(space.to_dict()) == space   # True
    """

    __slots__ = ("_items",)
    _items: tuple[tuple[str, ParameterExpression], ...]

    def __init__(self, parameters: Mapping[str, Any]) -> None:
        if isinstance(parameters, SearchSpace):
            items: tuple[tuple[str, ParameterExpression], ...] = parameters._items
        else:
            if not isinstance(parameters, Mapping):
                raise SweepError(f"a search space must be a mapping of parameter name -> "
                                 f"expression, got {type(parameters).__name__}.")
            seen: dict[str, str] = {}
            items = tuple((_check_name(k, seen), _coerce(k, v)) for k, v in parameters.items())
        if not items:
            raise SweepError("the search space is empty; give at least one parameter, e.g. "
                             "{'--lr': loguniform(-6, -1)}.")
        object.__setattr__(self, "_items", items)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SearchSpace is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (SearchSpace, (dict(self._items),))

    @classmethod
    def coerce(cls, space: SearchSpace | Mapping[str, Any]) -> SearchSpace:
        """Return ``space`` if it already is a SearchSpace, else build one."""
        return space if isinstance(space, SearchSpace) else cls(space)

    def __getitem__(self, name: str) -> ParameterExpression:
        for key, expr in self._items:
            if key == name:
                return expr
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (key for key, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SearchSpace):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {e}" for k, e in self._items)
        return f"SearchSpace({{{inner}}})"

    @property
    def names(self) -> tuple[str, ...]:
        """Parameter names in definition order."""
        return tuple(key for key, _ in self._items)

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        """One point, each parameter drawn in definition order."""
        return {key: expr.sample(rng) for key, expr in self._items}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{name: expression.to_dict()}``, JSON-ready."""
        return {key: expr.to_dict() for key, expr in self._items}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict`; also accepts string and list forms of expressions."""
        return cls(data)
