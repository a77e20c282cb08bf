"""Parameter expression classes: how one hyperparameter is drawn.

The public constructors (``choice``, ``uniform``, ...) and the parser live in :mod:`._space`.
Semantics follow Azure ML's HyperDrive; the bounds of ``loguniform`` / ``qloguniform`` are
*exponents*. Every expression is a frozen, hashable dataclass that validates eagerly and offers
``sample(rng)``, ``ppf(u)``, ``to_dict()`` and, where one exists, an Optuna distribution.

Example::

    Uniform(0.0, 1.0).sample(numpy.random.default_rng(0))   # 0.636...
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from decimal import Decimal
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np

from cumulus.errors import SweepError

ChoiceValue = str | int | float | bool | None
Value = Any

_SCALARS = (str, int, float, bool, type(None))
_EXPONENT_LIMIT = 700.0  # math.exp overflows just above 709


# --------------------------------------------------------------------------- validation helpers


def _number(expr: str, field: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SweepError(f"{expr}: {field!r} must be a number, got {value!r} "
                         f"({type(value).__name__}).")
    if not math.isfinite(float(value)):
        raise SweepError(f"{expr}: {field!r} must be a finite number, got {value!r}.")
    return int(value) if isinstance(value, (int, np.integer)) else float(value)


def _positive(expr: str, field: str, value: Any) -> float | int:
    number = _number(expr, field, value)
    if number <= 0:
        raise SweepError(f"{expr}: {field!r} must be > 0, got {value!r}.")
    return number


def _ordered(expr: str, low: float, high: float) -> None:
    if not low < high:
        raise SweepError(f"{expr}: 'min_value' must be less than 'max_value', got "
                         f"min_value={low!r} >= max_value={high!r}.")


def _exponents(expr: str, low: float, high: float) -> None:
    if max(abs(low), abs(high)) > _EXPONENT_LIMIT:
        raise SweepError(f"{expr}: the bounds are exponents (values lie between e**min_value and "
                         f"e**max_value), so they must lie within +-{_EXPONENT_LIMIT:g}; got "
                         f"{low!r}, {high!r}. For values 1e-6..1e-1 write loguniform(-13.8, -2.3)"
                         f" (natural logs).")


def _decimals(q: float) -> int:
    exponent = Decimal(repr(float(q))).as_tuple().exponent
    return max(0, -int(exponent)) if isinstance(exponent, int) else 0


def _quantize(x: float, q: float | int) -> float | int:
    """``round(x / q) * q``; an int when ``q`` is an int, else rounded to ``q``'s decimals."""
    steps = round(x / q)
    if isinstance(q, int):
        return int(steps) * q
    return round(steps * q, _decimals(q) + 1) + 0.0


def _clip_unit(u: float) -> float:
    return min(max(float(u), 1e-12), 1.0 - 1e-12)


# --------------------------------------------------------------------------- expressions


class ParameterExpression(ABC):
    """How one hyperparameter is drawn. Subclasses are frozen dataclasses.

    Example::

        expr = uniform(0.0, 1.0)
        expr.sample(numpy.random.default_rng(0))   # 0.636...
        expr.to_dict()                             # {'type': 'uniform', 'args': [0.0, 1.0]}
    """

    type_name: ClassVar[str]
    is_discrete: ClassVar[bool] = False

    @property
    def args(self) -> tuple[Any, ...]:
        """The positional arguments that rebuild this expression."""
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type]

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Value:
        """Draw one value (a plain Python scalar)."""

    @abstractmethod
    def ppf(self, u: float) -> Value:
        """Map ``u`` in [0, 1) onto a value (the quantile function; used by Sobol sampling)."""

    def optuna_distribution(self) -> Any | None:
        """The Optuna distribution that searches this expression, or None if there is none."""
        return None

    def to_optuna(self, value: Value) -> Any:
        """A value of this expression as a value of :meth:`optuna_distribution`."""
        return value

    def from_optuna(self, value: Any) -> Value:
        """A value drawn from :meth:`optuna_distribution` as a value of this expression."""
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, e.g. ``{"type": "loguniform", "args": [-6, -1]}``."""
        return {"type": self.type_name, "args": list(self.args)}

    @classmethod
    def from_dict(cls, data: Any) -> ParameterExpression:
        """Parse a dict or string form (see :func:`expression_from_dict`)."""
        from ._space import expression_from_dict

        expr = expression_from_dict(data)
        if not isinstance(expr, cls):
            raise SweepError(f"expected a {cls.__name__} expression, got {expr}.")
        return expr

    def __str__(self) -> str:
        return f"{self.type_name}({', '.join(repr(a) for a in self.args)})"


@dataclass(frozen=True)
class Choice(ParameterExpression):
    """One of a fixed set of scalar values (str, int, float, bool or None).

    Example::

        choice(16, 32, 64)       # same as choice([16, 32, 64])
    """

    values: tuple[ChoiceValue, ...]
    type_name: ClassVar[str] = "choice"
    is_discrete: ClassVar[bool] = True

    def __post_init__(self) -> None:
        values = tuple(self.values)
        if not values:
            raise SweepError("choice() needs at least one value, got none. "
                             "Example: choice(16, 32, 64) or choice([16, 32, 64]).")
        for value in values:
            if not isinstance(value, _SCALARS) or (isinstance(value, float)
                                                   and not math.isfinite(value)):
                raise SweepError(f"choice(): values must be finite str, int, float, bool or "
                                 f"None, got {value!r} ({type(value).__name__}).")
        if len(set(values)) < len(values):
            raise SweepError(f"choice(): values must be distinct (note 1 == 1.0 == True), got "
                             f"{list(values)!r}.")
        object.__setattr__(self, "values", values)

    @property
    def args(self) -> tuple[Any, ...]:
        return self.values

    def sample(self, rng: np.random.Generator) -> Value:
        return self.values[int(rng.integers(len(self.values)))]

    def ppf(self, u: float) -> Value:
        return self.values[min(int(_clip_unit(u) * len(self.values)), len(self.values) - 1)]

    def optuna_distribution(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.values)


@dataclass(frozen=True)
class RandInt(ParameterExpression):
    """A random integer in ``[0, upper)``.

    Example::

        randint(10)   # 0, 1, ..., 9
    """

    upper: int
    type_name: ClassVar[str] = "randint"
    is_discrete: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if isinstance(self.upper, bool) or not isinstance(self.upper, (int, np.integer)):
            raise SweepError(f"randint(upper): 'upper' must be an int, got {self.upper!r} "
                             f"({type(self.upper).__name__}).")
        if self.upper < 1:
            raise SweepError(f"randint(upper) draws from [0, upper), so 'upper' must be >= 1, "
                             f"got {self.upper!r}.")
        object.__setattr__(self, "upper", int(self.upper))

    def sample(self, rng: np.random.Generator) -> Value:
        return int(rng.integers(self.upper))

    def ppf(self, u: float) -> Value:
        return min(int(_clip_unit(u) * self.upper), self.upper - 1)

    def optuna_distribution(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(0, self.upper - 1)


@dataclass(frozen=True)
class Uniform(ParameterExpression):
    """A float drawn uniformly between ``min_value`` and ``max_value``.

    Example::

        uniform(0.05, 0.5)
    """

    min_value: float
    max_value: float
    type_name: ClassVar[str] = "uniform"

    def __post_init__(self) -> None:
        _set_bounds(self)

    def sample(self, rng: np.random.Generator) -> Value:
        return float(rng.uniform(self.min_value, self.max_value))

    def ppf(self, u: float) -> Value:
        return float(self.min_value + _clip_unit(u) * (self.max_value - self.min_value))

    def optuna_distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(float(self.min_value), float(self.max_value))

    def from_optuna(self, value: Any) -> Value:
        return float(value)


@dataclass(frozen=True)
class QUniform(ParameterExpression):
    """``round(uniform(min_value, max_value) / q) * q``; an int when ``q`` is an int.

    Example::

        quniform(0, 1, 0.25)    # 0.0, 0.25, 0.5, 0.75 or 1.0
    """

    min_value: float
    max_value: float
    q: float
    type_name: ClassVar[str] = "quniform"
    is_discrete: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _set_bounds(self)
        object.__setattr__(self, "q", _positive(str(self), "q", self.q))

    def sample(self, rng: np.random.Generator) -> Value:
        return _quantize(float(rng.uniform(self.min_value, self.max_value)), self.q)

    def ppf(self, u: float) -> Value:
        return _quantize(self.min_value + _clip_unit(u) * (self.max_value - self.min_value),
                         self.q)

    def optuna_distribution(self) -> Any:
        from optuna.distributions import FloatDistribution, IntDistribution

        low, high = _quantize(self.min_value, self.q), _quantize(self.max_value, self.q)
        if isinstance(self.q, int):
            return IntDistribution(int(low), int(high), step=self.q)
        return FloatDistribution(float(low), float(high), step=float(self.q))

    def from_optuna(self, value: Any) -> Value:
        return _quantize(value, self.q)


@dataclass(frozen=True)
class LogUniform(ParameterExpression):
    """``exp(uniform(min_value, max_value))``: the bounds are exponents, as in Azure ML.

    Example::

        loguniform(-6, -1)    # between e**-6 = 0.0025 and e**-1 = 0.37
    """

    min_value: float
    max_value: float
    type_name: ClassVar[str] = "loguniform"

    def __post_init__(self) -> None:
        _set_bounds(self)
        _exponents(str(self), self.min_value, self.max_value)

    def sample(self, rng: np.random.Generator) -> Value:
        return math.exp(rng.uniform(self.min_value, self.max_value))

    def ppf(self, u: float) -> Value:
        return math.exp(self.min_value + _clip_unit(u) * (self.max_value - self.min_value))

    def optuna_distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(math.exp(self.min_value), math.exp(self.max_value), log=True)

    def to_optuna(self, value: Value) -> Any:
        return _clip(float(value), math.exp(self.min_value), math.exp(self.max_value))

    def from_optuna(self, value: Any) -> Value:
        return float(value)


@dataclass(frozen=True)
class QLogUniform(ParameterExpression):
    """``round(exp(uniform(min_value, max_value)) / q) * q``; the bounds are exponents.

    For Bayesian search the unrounded log-uniform value is modelled and rounded afterwards.

    Example::

        qloguniform(0, 5, 1)    # integers between 1 and 148, log-distributed
    """

    min_value: float
    max_value: float
    q: float
    type_name: ClassVar[str] = "qloguniform"
    is_discrete: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _set_bounds(self)
        _exponents(str(self), self.min_value, self.max_value)
        object.__setattr__(self, "q", _positive(str(self), "q", self.q))

    def sample(self, rng: np.random.Generator) -> Value:
        return _quantize(math.exp(rng.uniform(self.min_value, self.max_value)), self.q)

    def ppf(self, u: float) -> Value:
        span = self.max_value - self.min_value
        return _quantize(math.exp(self.min_value + _clip_unit(u) * span), self.q)

    def optuna_distribution(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(math.exp(self.min_value), math.exp(self.max_value), log=True)

    def to_optuna(self, value: Value) -> Any:
        return _clip(float(value), math.exp(self.min_value), math.exp(self.max_value))

    def from_optuna(self, value: Any) -> Value:
        return _quantize(float(value), self.q)


@dataclass(frozen=True)
class Normal(ParameterExpression):
    """A float drawn from a normal distribution with mean ``mu`` and deviation ``sigma``.

    Example::

        normal(10, 3)
    """

    mu: float
    sigma: float
    type_name: ClassVar[str] = "normal"

    def __post_init__(self) -> None:
        _set_normal(self)

    def _draw(self, rng: np.random.Generator) -> float:
        return float(rng.normal(self.mu, self.sigma))

    def _quantile(self, u: float) -> float:
        return NormalDist(self.mu, self.sigma).inv_cdf(_clip_unit(u))

    def sample(self, rng: np.random.Generator) -> Value:
        return self._draw(rng)

    def ppf(self, u: float) -> Value:
        return self._quantile(u)


@dataclass(frozen=True)
class QNormal(Normal):
    """``round(normal(mu, sigma) / q) * q``.

    Example::

        qnormal(10, 3, 1)
    """

    q: float = 1.0
    type_name: ClassVar[str] = "qnormal"
    is_discrete: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _set_normal(self)
        object.__setattr__(self, "q", _positive(str(self), "q", self.q))

    def sample(self, rng: np.random.Generator) -> Value:
        return _quantize(self._draw(rng), self.q)

    def ppf(self, u: float) -> Value:
        return _quantize(self._quantile(u), self.q)


@dataclass(frozen=True)
class LogNormal(Normal):
    """``exp(normal(mu, sigma))``.

    Example::

        lognormal(0, 1)
    """

    type_name: ClassVar[str] = "lognormal"

    def sample(self, rng: np.random.Generator) -> Value:
        return math.exp(self._draw(rng))

    def ppf(self, u: float) -> Value:
        return math.exp(self._quantile(u))


@dataclass(frozen=True)
class QLogNormal(QNormal):
    """``round(exp(normal(mu, sigma)) / q) * q``.

    Example::

        qlognormal(0, 1, 0.5)
    """

    type_name: ClassVar[str] = "qlognormal"

    def sample(self, rng: np.random.Generator) -> Value:
        return _quantize(math.exp(self._draw(rng)), self.q)

    def ppf(self, u: float) -> Value:
        return _quantize(math.exp(self._quantile(u)), self.q)


def _set_bounds(expr: Any) -> None:
    name = f"{expr.type_name}(min_value={expr.min_value!r}, max_value={expr.max_value!r})"
    low = _number(name, "min_value", expr.min_value)
    high = _number(name, "max_value", expr.max_value)
    _ordered(name, low, high)
    object.__setattr__(expr, "min_value", low)
    object.__setattr__(expr, "max_value", high)


def _set_normal(expr: Any) -> None:
    name = f"{expr.type_name}(mu={expr.mu!r}, sigma={expr.sigma!r})"
    object.__setattr__(expr, "mu", _number(name, "mu", expr.mu))
    object.__setattr__(expr, "sigma", _positive(name, "sigma", expr.sigma))


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)
