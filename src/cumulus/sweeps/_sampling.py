"""Samplers: grid, random and Sobol here; Bayesian (Optuna TPE) and CMA-ES (Optuna) in
``_sampling_optuna.py``; the registry that builds any of them from a stored definition.

Each sampler's answer depends only on its settings and the history it is given, so a sweep can be
resumed from the run-history store: grid skips points already issued, random and Sobol derive
point ``i`` from ``(seed, i)``, and the Optuna-backed samplers rebuild their study from the
history when it is not the one they have been following.

Example::

    sampler = sampling_from_dict({"type": "random", "space": {"--batch": "choice(16, 32)"},
                                  "seed": 3})
    sampler.suggest([], 2)            # the same two points for seed 3, resumed or not
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from cumulus.errors import SweepError, allowed_list, did_you_mean

from ._expressions import Choice, ParameterExpression, RandInt
from ._sampling_base import (
    Goal,
    Sampling,
    TrialRecord,
    as_history,
    check_count,
    check_seed,
    param_key,
)
from ._sampling_optuna import BayesianSampling, CmaEsSampling
from ._space import SearchSpace

# --------------------------------------------------------------------------- grid


def _grid_values(name: str, expr: ParameterExpression) -> tuple[Any, ...]:
    if isinstance(expr, Choice):
        return expr.values
    if isinstance(expr, RandInt):
        return tuple(range(expr.upper))
    raise SweepError(f"GridSampling enumerates choice() (and randint()) parameters only; "
                     f"parameter {name!r} is {expr}. Use choice(...) for it or use "
                     f"RandomSampling / BayesianSampling.")


class GridSampling(Sampling):
    """Every combination of the ``choice`` values, in order (the last parameter varies fastest).

    Points already in the history (in any state) are skipped, so a resumed sweep continues where
    it stopped; ``suggest`` returns fewer than ``n`` points when the grid runs out.

    Example::

        grid = GridSampling({"--batch": choice(16, 32), "--opt": choice("sgd", "adam")})
        grid.total_size                 # 4
        grid.suggest((), 3)             # [{'--batch': 16, '--opt': 'sgd'}, ... 3 points]
    """

    type_name: ClassVar[str] = "grid"

    def __init__(self, space: SearchSpace | Mapping[str, Any]) -> None:
        self.space = SearchSpace.coerce(space)
        self._axes = tuple(_grid_values(n, e) for n, e in self.space.items())

    @property
    def total_size(self) -> int:
        return math.prod(len(axis) for axis in self._axes)

    def points(self) -> Iterator[dict[str, Any]]:
        """All grid points in order."""
        for combo in itertools.product(*self._axes):
            yield dict(zip(self.space.names, combo, strict=True))

    def _issued(self, history: Sequence[TrialRecord]) -> set[tuple[Any, ...]]:
        return {param_key(self.space, r.params) for r in as_history(history)}

    def suggest(self, history: Sequence[TrialRecord], n: int, *,
                goal: Goal | str | None = None) -> list[dict[str, Any]]:
        count = check_count(n)
        issued = self._issued(history)
        out: list[dict[str, Any]] = []
        for point in self.points():
            if len(out) >= count:
                break
            if param_key(self.space, point) not in issued:
                out.append(point)
        return out

    def exhausted(self, history: Sequence[TrialRecord]) -> bool:
        issued = self._issued(history)
        return all(param_key(self.space, p) in issued for p in self.points())

    def to_dict(self) -> dict[str, Any]:
        return self._base_dict()


# --------------------------------------------------------------------------- random and Sobol


FINITE_LIMIT = 100_000  # a finite space larger than this is sampled with replacement


class RandomSampling(Sampling):
    """Independent random draws; point ``i`` is drawn from ``default_rng([seed, i])``.

    Over a finite space (only ``choice``/``randint``) draws are without replacement: a shuffled
    order of every configuration, so none repeats and the sweep ends when all were tried (as
    the managed service documents for ``max_total_runs``).

    The sweep's ``i``-th trial therefore has the same parameters however the trials were batched
    and whether or not the controller restarted in between. ``seed=None`` draws a seed once, at
    construction, and ``to_dict`` stores it.

    Example::

        sampler = RandomSampling({"--lr": loguniform(-6, -1)}, seed=7)
        sampler.suggest((), 2) == sampler.suggest((), 1) + [...]   # first points agree
    """

    type_name: ClassVar[str] = "random"

    def __init__(self, space: SearchSpace | Mapping[str, Any], seed: int | None = None) -> None:
        self.space = SearchSpace.coerce(space)
        self.seed = check_seed(seed)
        self._finite: list[dict[str, Any]] | bool | None = False  # False: not computed yet

    def point(self, index: int) -> dict[str, Any]:
        """The ``index``-th point of this sampler's sequence."""
        finite = self._points()
        if finite is not None:
            return finite[index % len(finite)]
        return self.space.sample(np.random.default_rng([self.seed, index]))

    def _points(self) -> list[dict[str, Any]] | None:
        """A finite space (choice/randint only, at most FINITE_LIMIT points) as one shuffled
        list, so that draws never repeat a configuration; None for other spaces."""
        if self._finite is False:
            try:
                axes = [_grid_values(n, e) for n, e in self.space.items()]
            except SweepError:
                axes = []
            if not axes or math.prod(len(a) for a in axes) > FINITE_LIMIT:
                self._finite = None
            else:
                points = [dict(zip(self.space.names, c, strict=True))
                          for c in itertools.product(*axes)]
                order = np.random.default_rng([self.seed, 0x5EED]).permutation(len(points))
                self._finite = [points[i] for i in order]
        return self._finite  # type: ignore[return-value]

    @property
    def total_size(self) -> int | None:
        finite = self._points()
        return None if finite is None else len(finite)

    def suggest(self, history: Sequence[TrialRecord], n: int, *,
                goal: Goal | str | None = None) -> list[dict[str, Any]]:
        past = as_history(history)
        finite = self._points()
        if finite is None:
            start = len(past)
            return [self.point(start + i) for i in range(check_count(n))]
        issued = {param_key(self.space, r.params) for r in past}
        fresh = (p for p in finite if param_key(self.space, p) not in issued)
        return list(itertools.islice(fresh, check_count(n)))

    def exhausted(self, history: Sequence[TrialRecord]) -> bool:
        finite = self._points()
        if finite is None:
            return False
        issued = {param_key(self.space, r.params) for r in as_history(history)}
        return all(param_key(self.space, p) in issued for p in finite)

    def to_dict(self) -> dict[str, Any]:
        return {**self._base_dict(), "seed": self.seed}


class SobolSampling(Sampling):
    """A scrambled Sobol sequence mapped through each expression's quantile function.

    Spreads points more evenly than random draws; works with every expression (``choice`` values
    are picked by the quantile too). Point ``i`` depends only on ``(seed, i)``. Built on
    ``scipy.stats.qmc.Sobol`` (which Optuna's QMCSampler also uses), without an Optuna study, so
    that resuming needs no sampler state.

    Example::

        SobolSampling({"x": uniform(0, 1), "y": uniform(0, 1)}, seed=0).suggest((), 8)
    """

    type_name: ClassVar[str] = "sobol"

    def __init__(self, space: SearchSpace | Mapping[str, Any], seed: int | None = None) -> None:
        self.space = SearchSpace.coerce(space)
        self.seed = check_seed(seed)

    def _unit_points(self, start: int, count: int) -> np.ndarray:
        from scipy.stats import qmc

        engine = qmc.Sobol(d=len(self.space), scramble=True, seed=self.seed)
        if start:
            engine.fast_forward(start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # balance warning for n != 2**m
            return engine.random(count)

    def suggest(self, history: Sequence[TrialRecord], n: int, *,
                goal: Goal | str | None = None) -> list[dict[str, Any]]:
        count = check_count(n)
        if count == 0:
            return []
        units = self._unit_points(len(as_history(history)), count)
        exprs = list(self.space.items())
        return [{name: expr.ppf(float(u)) for (name, expr), u in zip(exprs, row, strict=True)}
                for row in units]

    def to_dict(self) -> dict[str, Any]:
        return {**self._base_dict(), "seed": self.seed}


# --------------------------------------------------------------------------- registry

SAMPLERS: dict[str, type[Sampling]] = {
    "grid": GridSampling, "random": RandomSampling, "sobol": SobolSampling,
    "bayesian": BayesianSampling, "cmaes": CmaEsSampling,
}
_SAMPLER_ALIASES = {"tpe": "bayesian", "cma": "cmaes", "qmc": "sobol"}


def _sampler_type(name: Any) -> type[Sampling]:
    text = str(name).strip().lower().replace("-", "").replace("_", "")
    for suffix in ("parametersampling", "sampling", "sampler"):
        if text.endswith(suffix) and text != suffix:
            text = text[: -len(suffix)]
    text = _SAMPLER_ALIASES.get(text, text)
    if text not in SAMPLERS:
        raise SweepError(f"unknown sampling type {name!r}; allowed: {allowed_list(SAMPLERS)}."
                         f"{did_you_mean(text, SAMPLERS)}")
    return SAMPLERS[text]


def sampling_from_dict(data: Sampling | Mapping[str, Any]) -> Sampling:
    """Build a sampler from ``{"type": "random", "space": {...}, "seed": 1, ...}``.

    Example::

        sampling_from_dict({"type": "grid", "space": {"--batch": "choice(16, 32)"}})
    """
    if isinstance(data, Sampling):
        return data
    if not isinstance(data, Mapping) or "type" not in data or "space" not in data:
        raise SweepError(f"a sampling definition is a dict with 'type' and 'space' keys, got "
                         f"{data!r}.")
    cls = _sampler_type(data["type"])
    options = {str(k): v for k, v in data.items() if k not in ("type", "space")}
    allowed = _OPTIONS[cls]
    for key in options:
        if key not in allowed:
            raise SweepError(f"{cls.__name__} has no option {key!r}; allowed: "
                             f"{allowed_list(allowed)}.{did_you_mean(key, allowed)}")
    return cls(SearchSpace.from_dict(data["space"]), **options)  # type: ignore[call-arg]


_OPTIONS: dict[type[Sampling], tuple[str, ...]] = {
    GridSampling: (), RandomSampling: ("seed",), SobolSampling: ("seed",),
    BayesianSampling: ("seed", "goal", "n_startup_trials", "initial_points"),
    CmaEsSampling: ("seed", "goal"),
}
