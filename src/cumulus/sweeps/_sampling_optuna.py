"""The Optuna-backed samplers: Bayesian (TPE) and CMA-ES.

Each keeps an Optuna study in step with the history it is given (asking and telling as trials
are issued and end) and rebuilds it from that history when it is not the one it has been
following, so a resumed sweep asks the same questions. Optuna is imported at the first
suggestion that needs it.

Example::

    sampler = BayesianSampling({"--lr": loguniform(-6, -1), "--batch": choice(16, 32)}, seed=1)
    params = sampler.suggest(history, 4, goal="maximize")
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from cumulus.errors import MissingDependencyError, SweepError

from ._expressions import Choice, ParameterExpression
from ._sampling_base import (
    Goal,
    Sampling,
    TrialRecord,
    as_history,
    check_count,
    check_seed,
    derive_seed,
    normalize_goal,
    param_key,
)
from ._space import SearchSpace


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


@dataclass(frozen=True)
class _Told:
    number: int  # the Optuna trial number; -1 when the record never entered the study
    state: str
    value: float | None


def _frozen_trial(state: str, params: dict[str, Any], distributions: dict[str, Any],
                  value: float | None) -> Any:
    from optuna.trial import TrialState, create_trial

    if state == "complete":
        return create_trial(state=TrialState.COMPLETE, params=params,
                            distributions=distributions, value=value)
    if state == "pruned":
        return create_trial(state=TrialState.PRUNED, params=params, distributions=distributions,
                            intermediate_values={0: float(value)})  # type: ignore[arg-type]
    return create_trial(state=TrialState.RUNNING, params=params, distributions=distributions)


class _StudyCache:
    """An in-memory Optuna study kept in step with a sweep's history.

    Trials this sampler asked for stay RUNNING in the study (so TPE's constant liar sees them)
    until they show up in the history, matched by their parameters; suggestions the controller
    never submitted are failed on the next call. A history that contradicts what was told (a
    trial vanished or changed its final value) means a different sweep: the caller rebuilds.
    """

    def __init__(self, space: SearchSpace, distributions: dict[str, Any], goal: str) -> None:
        import optuna

        self.space, self.distributions, self.goal = space, distributions, goal
        with _quiet_optuna():
            self.study = optuna.create_study(direction=goal,  # type: ignore[arg-type]
                                             sampler=optuna.samplers.RandomSampler(seed=0))
        self.known: dict[str, _Told] = {}
        self.pending: list[tuple[tuple[Any, ...], int]] = []
        self.asked: dict[int, Any] = {}  # trial number -> optuna Trial, until it finishes
        self.warm_start: list[Any] | None = None  # CMA-ES only: see _warm_start_trials
        self.sampler: Any = None  # the Optuna sampler, reseeded on every call

    def consistent(self, history: Sequence[TrialRecord], goal: str) -> bool:
        if goal != self.goal:
            return False
        by_id = {r.trial_id: r for r in history}
        for trial_id, told in self.known.items():
            record = by_id.get(trial_id)
            if record is None:
                return False
            if told.state != "running" and (record.state, record.value) != (told.state,
                                                                             told.value):
                return False
        return True

    def sync(self, history: Sequence[TrialRecord]) -> None:
        for record in history:
            told = self.known.get(record.trial_id)
            if told is None:
                self._add(record)
            elif told.state == "running" and record.state != "running" and told.number >= 0:
                self._finish(told.number, record)
            elif told.state == "running" and record.state != "running":
                self.known[record.trial_id] = _Told(-1, record.state, record.value)
        self._drop_pending()

    def _drop_pending(self) -> None:
        from optuna.trial import TrialState

        for _, number in self.pending:
            self.asked.pop(number, None)
            self.study.tell(number, state=TrialState.FAIL)
        self.pending.clear()

    def _take_pending(self, params: Mapping[str, Any]) -> int | None:
        key = param_key(self.space, params)
        for index, (pending_key, number) in enumerate(self.pending):
            if pending_key == key:
                del self.pending[index]
                return number
        return None

    def _add(self, record: TrialRecord) -> None:
        number = self._take_pending(record.params)
        if number is None:
            self._add_trial(record)
            return
        self.known[record.trial_id] = _Told(number, "running", None)
        if record.state != "running":
            self._finish(number, record)

    def _finish(self, number: int, record: TrialRecord) -> None:
        from optuna.trial import TrialState

        value, asked = record.usable_value, self.asked.pop(number, None)
        if record.state == "complete" and value is not None:
            self.study.tell(number, value)
        elif record.state == "pruned" and value is not None and asked is not None:
            asked.report(value, 0)  # TPE ranks pruned trials by their last reported value
            self.study.tell(asked, state=TrialState.PRUNED)
        else:
            self.study.tell(number, state=TrialState.FAIL)
            if record.state == "pruned" and value is not None:
                self._add_trial(record)
                return
        self.known[record.trial_id] = _Told(number, record.state, record.value)

    def _latent(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        if any(name not in params for name in self.space.names):
            return None
        try:
            return {n: e.to_optuna(params[n]) for n, e in self.space.items()}
        except (TypeError, ValueError):
            return None

    def _add_trial(self, record: TrialRecord) -> None:
        value = record.usable_value
        latent = self._latent(record.params)
        frozen = None
        if latent is not None and record.state != "failed" and (
                record.state == "running" or value is not None):
            try:
                frozen = _frozen_trial(record.state, latent, self.distributions, value)
            except ValueError:  # params outside this space: a sweep resumed with a new space
                frozen = None
        if frozen is None:
            self.known[record.trial_id] = _Told(-1, record.state, record.value)
            return
        self.study.add_trial(frozen)
        number = self.study.get_trials(deepcopy=False)[-1].number
        self.known[record.trial_id] = _Told(number, record.state, record.value)

    def ask(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            trial = self.study.ask(self.distributions)
            params = {name: expr.from_optuna(trial.params[name])
                      for name, expr in self.space.items()}
            self.pending.append((param_key(self.space, params), trial.number))
            self.asked[trial.number] = trial
            out.append(params)
        return out


def _reseed(sampler: Any, seed: int) -> bool:
    """Reseed an Optuna sampler in place as its constructor would seed it with ``seed``.

    Creating a sampler costs about a millisecond (argument checks) and drops its search-space
    cache, so one sampler is kept per study and reseeded on every call. This reaches into the
    samplers' random states (``_rng``, ``_cma_rng``, ``_random_sampler``,
    ``_independent_sampler``); when those are not found it returns False and the caller builds a
    new sampler instead.
    """
    states = [getattr(sampler, name, None) for name in ("_rng", "_cma_rng")]
    subs = [getattr(sampler, name, None) for name in ("_random_sampler", "_independent_sampler")]
    found = False
    for state in states + [getattr(sub, "_rng", None) for sub in subs]:
        rng = getattr(state, "rng", None)
        if rng is not None and callable(getattr(rng, "seed", None)):
            rng.seed(seed)
            found = True
    return found


class _OptunaSampling(Sampling):
    """A sampler that keeps an Optuna study in step with the history (see :class:`_StudyCache`).

    The Optuna sampler is reseeded on every call with a seed derived from
    ``(seed, len(history))``, so that the answer depends on the history, not on how many calls
    came before: a sampler rebuilt from the history suggests what the original would have.
    """

    _supported: ClassVar[str] = "choice, randint, uniform, quniform, loguniform, qloguniform"

    def __init__(self, space: SearchSpace | Mapping[str, Any], seed: int | None = None, *,
                 goal: Goal | str | None = None) -> None:
        self.space = SearchSpace.coerce(space)
        self.seed = check_seed(seed)
        self.goal: Goal | None = None if goal is None else normalize_goal(goal)
        self._distributions = {name: self._distribution(name, expr)
                               for name, expr in self.space.items()}
        self._check_space()
        self._cache: _StudyCache | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}  # the study is a cache: rebuilt on demand

    def _distribution(self, name: str, expr: ParameterExpression) -> Any:
        dist = expr.optuna_distribution()
        if dist is None:
            raise SweepError(f"{type(self).__name__} cannot search parameter {name!r} = {expr}: "
                             f"it supports {self._supported}. Use RandomSampling or "
                             f"SobolSampling for normal/lognormal parameters.")
        return dist

    def _check_space(self) -> None:
        """Subclasses reject spaces their Optuna sampler cannot search."""

    def _make_sampler(self, seed: int, cache: _StudyCache) -> Any:
        raise NotImplementedError

    def _resolve_goal(self, goal: Goal | str | None) -> str:
        if goal is not None:
            return normalize_goal(goal)
        if self.goal is None:
            raise SweepError(f"{type(self).__name__} needs the primary metric goal: pass "
                             f"goal='maximize' or goal='minimize' to suggest() or to the "
                             f"constructor.")
        return self.goal

    def _synced(self, history: tuple[TrialRecord, ...], goal: str) -> _StudyCache:
        cache = self._cache
        if cache is None or not cache.consistent(history, goal):
            cache = _StudyCache(self.space, self._distributions, goal)
        with _quiet_optuna(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cache.sync(history)
        self._cache = cache
        return cache

    def suggest(self, history: Sequence[TrialRecord], n: int, *,
                goal: Goal | str | None = None) -> list[dict[str, Any]]:
        count, records = check_count(n), as_history(history)
        resolved = self._resolve_goal(goal)
        if count == 0:
            return []
        cache = self._synced(records, resolved)
        with _quiet_optuna(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental/independent-sampling notes
            seed = derive_seed(self.seed, len(records))
            if cache.sampler is None or not _reseed(cache.sampler, seed):
                cache.sampler = self._make_sampler(seed, cache)
            cache.study.sampler = cache.sampler
            return cache.ask(count)

    def to_dict(self) -> dict[str, Any]:
        data = {**self._base_dict(), "seed": self.seed}
        if self.goal is not None:
            data["goal"] = self.goal
        return data


class BayesianSampling(_OptunaSampling):
    """Bayesian optimisation with Optuna's TPE sampler (multivariate, constant liar).

    The first ``n_startup_trials`` points are random; later ones model the completed trials
    (early-terminated ones count as worse than every completed one, running ones as pending).
    ``initial_points`` are tried first, in order (known-good defaults, as Optuna's
    ``enqueue_trial``); each names a value for every parameter. Supports choice, randint,
    uniform, quniform, loguniform and qloguniform parameters.

    Example::

        sampler = BayesianSampling({"--lr": loguniform(-6, -1), "--batch": choice(16, 32)},
                                   seed=0, goal="maximize")
        sampler.suggest(history, 4)
    """

    type_name: ClassVar[str] = "bayesian"

    def __init__(self, space: SearchSpace | Mapping[str, Any], seed: int | None = None, *,
                 goal: Goal | str | None = None, n_startup_trials: int = 10,
                 initial_points: Sequence[Mapping[str, Any]] = ()) -> None:
        if isinstance(n_startup_trials, bool) or not isinstance(n_startup_trials, int) or (
                n_startup_trials < 0):
            raise SweepError(f"n_startup_trials must be an int >= 0, got {n_startup_trials!r}.")
        self.n_startup_trials = n_startup_trials
        super().__init__(space, seed, goal=goal)
        self.initial_points = [self._check_point(p) for p in initial_points]

    def _check_point(self, point: Any) -> dict[str, Any]:
        if not isinstance(point, Mapping) or set(point) != set(self.space.names):
            raise SweepError(f"each of initial_points names a value for every parameter "
                             f"{sorted(self.space.names)}, got {point!r}.")
        for name, value in point.items():
            dist = self._distributions[name]
            try:
                ok = dist._contains(dist.to_internal_repr(value))
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise SweepError(f"initial point {dict(point)!r}: {name}={value!r} is outside "
                                 f"{self.space[name]}.")
        return dict(point)

    def suggest(self, history: Sequence[TrialRecord], n: int, *,
                goal: Goal | str | None = None) -> list[dict[str, Any]]:
        count, done = check_count(n), len(as_history(history))
        first = [dict(p) for p in self.initial_points[done:done + count]]
        if len(first) == count:
            return first
        return first + super().suggest(history, count - len(first), goal=goal)

    def _make_sampler(self, seed: int, cache: _StudyCache) -> Any:
        from optuna.samplers import TPESampler

        return TPESampler(seed=seed, n_startup_trials=self.n_startup_trials, multivariate=True,
                          constant_liar=True)

    def to_dict(self) -> dict[str, Any]:
        data = {**super().to_dict(), "n_startup_trials": self.n_startup_trials}
        if self.initial_points:
            data["initial_points"] = [dict(p) for p in self.initial_points]
        return data


class CmaEsSampling(_OptunaSampling):
    """CMA-ES through Optuna's CmaEsSampler, for two or more numeric parameters.

    Needs the ``cmaes`` package (``pip install cmaes``); without it construction raises
    :class:`~cumulus.errors.MissingDependencyError`.

    The evolution state is not in the history: when it has to rebuild from a history it did not
    follow (a resumed sweep), CMA-ES warm-starts from the completed trials (Optuna's WS-CMA-ES,
    from 10 of them on) instead of continuing the interrupted run exactly.

    Example::

        CmaEsSampling({"x": uniform(-2, 2), "y": uniform(-2, 2)}, seed=0, goal="minimize")
    """

    type_name: ClassVar[str] = "cmaes"
    _supported: ClassVar[str] = "randint, uniform, quniform, loguniform, qloguniform"

    def _check_space(self) -> None:
        if importlib.util.find_spec("cmaes") is None:
            raise MissingDependencyError("CmaEsSampling", "cmaes")
        for name, expr in self.space.items():
            if isinstance(expr, Choice):
                raise SweepError(f"CmaEsSampling searches numeric parameters only; parameter "
                                 f"{name!r} is {expr}. Use BayesianSampling for choice().")
        if len(self.space) < 2:
            raise SweepError(f"CmaEsSampling needs at least 2 parameters, got "
                             f"{len(self.space)}; use BayesianSampling for one parameter.")

    def _make_sampler(self, seed: int, cache: _StudyCache) -> Any:
        from optuna.samplers import CmaEsSampler

        if cache.warm_start is None:
            cache.warm_start = _warm_start_trials(cache)
        return CmaEsSampler(seed=seed, source_trials=cache.warm_start or None,
                            warn_independent_sampling=False)


def _warm_start_trials(cache: _StudyCache) -> list[Any]:
    """The completed trials a rebuilt study started with, when enough for WS-CMA-ES (>= 10)."""
    from optuna.trial import TrialState

    numbers = {told.number for told in cache.known.values() if told.state == "complete"}
    trials = [t for t in cache.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.number in numbers]
    return trials if len(trials) >= 10 else []


__all__ = ["BayesianSampling", "CmaEsSampling"]
