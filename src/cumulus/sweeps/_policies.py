"""Early-termination policies: pure decisions over a frozen snapshot of the sweep's metrics.

A :class:`PolicySnapshot` holds, for every trial of the sweep, the primary-metric values it has
reported so far (in logging order) and whether it is still running. ``policy.trials_to_cancel(
snapshot)`` returns the ids of the running trials to cancel; the sweep controller does the I/O.

Conventions shared by all policies:

* An *interval* is one report of the primary metric: a trial that logged it ``k`` times is at
  interval ``k``. The step numbers stored with each point are informational.
* A running trial is judged at its current interval ``k`` (the number of values it has reported)
  and only when the policy is due there: for Bandit, median stopping and truncation selection
  ``k % evaluation_interval == 0 and k >= delay_evaluation`` (the first evaluation is at
  interval ``delay_evaluation``, as the managed service documents); for ASHA ``k`` must be a
  rung.
  Call ``trials_to_cancel`` after every metrics poll.
* A trial's value at interval ``k`` is its *best-so-far*: the best of its first ``k`` values.
* Finished trials are never cancelled but are references for the others: every trial that
  reached interval ``k`` (running or finished) counts at ``k``.
* Exactly at a threshold is not cancelled. NaN values count as the worst possible value.
* Policies apply from the first batch of trials on (no startup period beyond ``delay_evaluation``).

Example::

    snapshot = PolicySnapshot.from_curves("maximize", {"a": [0.5, 0.6], "b": [0.8, 0.9]})
    BanditPolicy(slack_factor=0.2).trials_to_cancel(snapshot)   # frozenset({'a'})
"""

from __future__ import annotations

import itertools
import math
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from typing import Any, ClassVar

from cumulus.errors import SweepError, allowed_list, did_you_mean

from ._sampling_base import Goal, normalize_goal

# --------------------------------------------------------------------------- snapshot


def _point(trial_id: str, point: Any, index: int) -> tuple[int, float]:
    if isinstance(point, float):  # the common case, fast
        return index, float(point)
    if isinstance(point, (tuple, list)) and len(point) == 2:
        step, value = point
    else:
        step, value = index, point
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise SweepError(f"trial {trial_id!r}: metric values must be numbers, got "
                             f"{value!r}.") from None
    return int(step), float(value)


@dataclass(frozen=True)
class TrialProgress:
    """One trial's primary-metric points ``((step, value), ...)`` in logging order.

    ``points`` may also be given as plain values (their steps are then 0, 1, 2, ...).

    Example::

        TrialProgress("t1", ((0, 0.52), (1, 0.61)), running=True)
        TrialProgress("t2", (0.50, 0.70, 0.74), running=False)
    """

    trial_id: str
    points: tuple[tuple[int, float], ...] = ()
    running: bool = True

    def __post_init__(self) -> None:
        trial_id = str(self.trial_id)
        points = tuple(_point(trial_id, p, i) for i, p in enumerate(self.points))
        object.__setattr__(self, "trial_id", trial_id)
        object.__setattr__(self, "points", points)
        object.__setattr__(self, "running", bool(self.running))

    @property
    def values(self) -> tuple[float, ...]:
        """The reported values, in logging order."""
        return tuple(value for _, value in self.points)

    @property
    def interval(self) -> int:
        """How many times the primary metric has been reported."""
        return len(self.points)


@dataclass(frozen=True)
class PolicySnapshot:
    """The sweep as a policy sees it: the goal and every trial's progress.

    Example::

        PolicySnapshot("minimize", (TrialProgress("t1", (0.9, 0.7)),
                                    TrialProgress("t2", (0.8, 0.6, 0.5), running=False)))
        PolicySnapshot.from_curves("minimize", {"t1": [0.9, 0.7], "t2": [0.8, 0.6, 0.5]},
                                   finished={"t2"})          # the same snapshot
    """

    goal: Goal
    trials: tuple[TrialProgress, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal", normalize_goal(self.goal))
        trials = tuple(self.trials)
        seen: set[str] = set()
        for trial in trials:
            if not isinstance(trial, TrialProgress):
                raise SweepError(f"a PolicySnapshot holds TrialProgress objects, got "
                                 f"{type(trial).__name__}.")
            if trial.trial_id in seen:
                raise SweepError(f"trial id {trial.trial_id!r} appears twice in the snapshot.")
            seen.add(trial.trial_id)
        object.__setattr__(self, "trials", trials)

    @classmethod
    def from_curves(cls, goal: Goal | str, curves: Mapping[str, Sequence[Any]], *,
                    finished: Iterable[str] = ()) -> PolicySnapshot:
        """Build from ``{trial_id: values or (step, value) pairs}``; trials not in ``finished``
        are running."""
        done = set(finished)
        unknown = done - set(curves)
        if unknown:
            raise SweepError(f"finished trial ids {sorted(unknown)!r} have no curve; known: "
                             f"{allowed_list(curves)}.")
        trials = tuple(TrialProgress(tid, tuple(points), running=tid not in done)
                       for tid, points in curves.items())
        return cls(normalize_goal(goal), trials)

    def score(self, value: float) -> float:
        """``value`` oriented so that higher is better; NaN is the worst."""
        if math.isnan(value):
            return -math.inf
        return value if self.goal == "maximize" else -value

    @cached_property
    def _scores(self) -> dict[str, tuple[list[float], list[float]]]:
        """Per trial: best-so-far and running mean after each interval, as scores."""
        out = {}
        sign = 1.0 if self.goal == "maximize" else -1.0
        for trial in self.trials:
            scores = [-math.inf if v != v else sign * v for _, v in trial.points]  # NaN: worst
            out[trial.trial_id] = (list(itertools.accumulate(scores, max)),
                                   [total / (i + 1) for i, total in
                                    enumerate(itertools.accumulate(scores))])
        return out

    def best_so_far(self, trial: TrialProgress, interval: int) -> float:
        """The trial's best value among its first ``interval`` values, as a score."""
        return self._scores[trial.trial_id][0][interval - 1]

    def running_average(self, trial: TrialProgress, interval: int) -> float:
        """The mean of the trial's first ``interval`` values, as a score."""
        return self._scores[trial.trial_id][1][interval - 1]

    def reached(self, interval: int) -> tuple[TrialProgress, ...]:
        """Trials (running or finished) that reported at least ``interval`` values."""
        return tuple(t for t in self.trials if t.interval >= interval)


# --------------------------------------------------------------------------- base classes


def _int_at_least(policy: str, name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SweepError(f"{policy}: {name!r} must be an int >= {low}, got {value!r}.")
    return value


def _positive(policy: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and value > 0):
        raise SweepError(f"{policy}: {name!r} must be a number > 0, got {value!r}.")
    return float(value)


class EarlyTerminationPolicy(ABC):
    """Base of the policies: ``trials_to_cancel(snapshot) -> frozenset of trial ids``.

    Example::

        policy = MedianStoppingPolicy(delay_evaluation=5)
        policy_from_dict(policy.to_dict()) == policy    # True
    """

    type_name: ClassVar[str]

    def trials_to_cancel(self, snapshot: PolicySnapshot) -> frozenset[str]:
        """The running trials this policy cancels in ``snapshot`` (possibly none)."""
        if not isinstance(snapshot, PolicySnapshot):
            raise SweepError(f"trials_to_cancel() takes a PolicySnapshot, got "
                             f"{type(snapshot).__name__}.")
        return frozenset(t.trial_id for t in snapshot.trials
                         if t.running and t.interval > 0 and self._cancels(snapshot, t))

    @abstractmethod
    def _cancels(self, snapshot: PolicySnapshot, trial: TrialProgress) -> bool:
        """Whether the running ``trial`` is cancelled at its current interval."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"type": ..., <settings>}``."""
        settings = asdict(self)  # type: ignore[call-overload]
        return {"type": self.type_name, **settings}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EarlyTerminationPolicy:
        """Rebuild a policy of this class from :meth:`to_dict` output."""
        policy = policy_from_dict(data)
        if not isinstance(policy, cls):
            raise SweepError(f"expected a {cls.type_name!r} policy, got {policy.type_name!r}.")
        return policy


class _IntervalPolicy(EarlyTerminationPolicy):
    """Gating shared by Bandit, median stopping and truncation selection."""

    evaluation_interval: int
    delay_evaluation: int

    def _check_gating(self) -> None:
        name = type(self).__name__
        _int_at_least(name, "evaluation_interval", self.evaluation_interval, 1)
        _int_at_least(name, "delay_evaluation", self.delay_evaluation, 0)

    def due(self, interval: int) -> bool:
        """Whether the policy evaluates a trial at ``interval``."""
        return interval % self.evaluation_interval == 0 and interval >= self.delay_evaluation

    def _cancels(self, snapshot: PolicySnapshot, trial: TrialProgress) -> bool:
        return self.due(trial.interval) and self._cancels_at(snapshot, trial, trial.interval)

    @abstractmethod
    def _cancels_at(self, snapshot: PolicySnapshot, trial: TrialProgress, k: int) -> bool:
        """The policy's rule at interval ``k`` (already known to be due)."""


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class NoTerminationPolicy(EarlyTerminationPolicy):
    """Never cancels anything: every trial runs to completion.

    Example::

        NoTerminationPolicy().trials_to_cancel(snapshot)   # frozenset()
    """

    type_name: ClassVar[str] = "none"

    def _cancels(self, snapshot: PolicySnapshot, trial: TrialProgress) -> bool:
        return False


@dataclass(frozen=True)
class BanditPolicy(_IntervalPolicy):
    """Cancel a trial that trails the best trial by more than a slack.

    At a due interval ``k`` let ``Y`` be the trial's best-so-far and ``B`` the best of all
    best-so-far values at ``k`` (over every trial that reached ``k``, finished ones included).
    With ``slack_factor`` ``s`` a trial is cancelled when ``Y * (1 + s) < B`` (maximize) or
    ``Y > B * (1 + s)`` (minimize); with ``slack_amount`` ``a`` when ``Y < B - a`` (maximize) or
    ``Y > B + a`` (minimize). ``slack_factor`` assumes a positive metric; use ``slack_amount``
    for metrics that can be negative. Give exactly one of the two.

    Example::

        BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5)
    """

    evaluation_interval: int = 1
    slack_factor: float | None = None
    slack_amount: float | None = None
    delay_evaluation: int = 0
    type_name: ClassVar[str] = "bandit"

    def __post_init__(self) -> None:
        self._check_gating()
        if (self.slack_factor is None) == (self.slack_amount is None):
            raise SweepError(f"BanditPolicy needs exactly one of slack_factor or slack_amount, "
                             f"got slack_factor={self.slack_factor!r}, "
                             f"slack_amount={self.slack_amount!r}.")
        if self.slack_factor is not None:
            object.__setattr__(self, "slack_factor",
                               _positive("BanditPolicy", "slack_factor", self.slack_factor))
        else:
            object.__setattr__(self, "slack_amount",
                               _positive("BanditPolicy", "slack_amount", self.slack_amount))

    def _cancels_at(self, snapshot: PolicySnapshot, trial: TrialProgress, k: int) -> bool:
        best = max(snapshot.best_so_far(t, k) for t in snapshot.reached(k))
        own = snapshot.best_so_far(trial, k)
        maximize = snapshot.goal == "maximize"
        y, b = (own, best) if maximize else (-own, -best)  # back to the metric's own sign
        if not math.isfinite(b):
            return False
        if self.slack_factor is not None:
            factor = 1.0 + self.slack_factor
            return y * factor < b if maximize else y > b * factor
        amount = float(self.slack_amount)  # type: ignore[arg-type]
        return y < b - amount if maximize else y > b + amount


@dataclass(frozen=True)
class MedianStoppingPolicy(_IntervalPolicy):
    """Cancel a trial whose best-so-far is worse than the median of the others' running averages.

    At a due interval ``k`` the trial's best-so-far is compared with the median, over the *other*
    trials that reached ``k`` (finished ones included), of the mean of their first ``k`` values.
    Nothing happens while no other trial has reached ``k``.

    Example::

        MedianStoppingPolicy(evaluation_interval=1, delay_evaluation=5)
    """

    evaluation_interval: int = 1
    delay_evaluation: int = 0
    type_name: ClassVar[str] = "median_stopping"

    def __post_init__(self) -> None:
        self._check_gating()

    def _cancels_at(self, snapshot: PolicySnapshot, trial: TrialProgress, k: int) -> bool:
        others = [t for t in snapshot.reached(k) if t.trial_id != trial.trial_id]
        if not others:
            return False
        averages = [snapshot.running_average(t, k) for t in others]
        return snapshot.best_so_far(trial, k) < statistics.median(averages)


def _rank(score: float, scores: Iterable[float]) -> int:
    """1 + how many scores are strictly better (ties share the better rank)."""
    return 1 + sum(1 for other in scores if other > score)


@dataclass(frozen=True)
class TruncationSelectionPolicy(_IntervalPolicy):
    """Cancel the trials in the worst ``truncation_percentage`` percent at each due interval.

    At interval ``k`` the trials that reached ``k`` (finished ones included) are ranked by their
    best-so-far; the worst ``floor(count * truncation_percentage / 100)`` of them are cut, and a
    running trial at ``k`` among them is cancelled. Ties share the better rank, so a trial tied
    with the last survivor survives.

    Example::

        TruncationSelectionPolicy(truncation_percentage=20, delay_evaluation=5)
    """

    truncation_percentage: float
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    type_name: ClassVar[str] = "truncation_selection"

    def __post_init__(self) -> None:
        self._check_gating()
        pct = self.truncation_percentage
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or not 1 <= pct <= 99:
            raise SweepError(f"TruncationSelectionPolicy: 'truncation_percentage' must be a "
                             f"number from 1 to 99, got {pct!r}.")

    def _cancels_at(self, snapshot: PolicySnapshot, trial: TrialProgress, k: int) -> bool:
        scores = [snapshot.best_so_far(t, k) for t in snapshot.reached(k)]
        cut = math.floor(len(scores) * self.truncation_percentage / 100)
        if cut == 0:
            return False
        return _rank(snapshot.best_so_far(trial, k), scores) > len(scores) - cut


@dataclass(frozen=True)
class AshaPolicy(EarlyTerminationPolicy):
    """Asynchronous successive halving (ASHA) as a stopping rule.

    Rungs sit at ``min_resource * reduction_factor**i`` intervals (below ``max_resource`` when
    given). A running trial that has just reached a rung ``r`` (its interval equals ``r``)
    continues only if its best-so-far ranks within the top ``max(1, floor(n / reduction_factor))``
    of the ``n`` trials that reached ``r`` (finished ones included; ties share the better rank);
    otherwise it is cancelled. So the best trial at a rung always continues, and while fewer than
    ``reduction_factor`` trials reached it only a new best continues (Optuna's
    SuccessiveHalvingPruner rule).

    Example::

        AshaPolicy(min_resource=1, reduction_factor=3, max_resource=27)   # rungs 1, 3, 9
    """

    min_resource: int = 1
    reduction_factor: int = 3
    max_resource: int | None = None
    type_name: ClassVar[str] = "asha"

    def __post_init__(self) -> None:
        _int_at_least("AshaPolicy", "min_resource", self.min_resource, 1)
        _int_at_least("AshaPolicy", "reduction_factor", self.reduction_factor, 2)
        if self.max_resource is not None:
            _int_at_least("AshaPolicy", "max_resource", self.max_resource,
                          self.min_resource + 1)

    def rungs(self, up_to: int) -> tuple[int, ...]:
        """The rungs at or below ``up_to`` intervals."""
        out, rung = [], self.min_resource
        limit = up_to if self.max_resource is None else min(up_to, self.max_resource - 1)
        while rung <= limit:
            out.append(rung)
            rung *= self.reduction_factor
        return tuple(out)

    def _cancels(self, snapshot: PolicySnapshot, trial: TrialProgress) -> bool:
        k = trial.interval
        if k not in self.rungs(k):
            return False
        scores = [snapshot.best_so_far(t, k) for t in snapshot.reached(k)]
        keep = max(1, len(scores) // self.reduction_factor)
        return _rank(snapshot.best_so_far(trial, k), scores) > keep


# --------------------------------------------------------------------------- registry

POLICIES: dict[str, type[EarlyTerminationPolicy]] = {
    "bandit": BanditPolicy, "median_stopping": MedianStoppingPolicy,
    "truncation_selection": TruncationSelectionPolicy, "asha": AshaPolicy,
    "none": NoTerminationPolicy,
}
_POLICY_ALIASES = {"median": "median_stopping", "medianstopping": "median_stopping",
                   "truncation": "truncation_selection",
                   "truncationselection": "truncation_selection", "notermination": "none",
                   "default": "none", "successivehalving": "asha"}


def _policy_type(name: Any) -> type[EarlyTerminationPolicy]:
    text = str(name).strip().lower().replace("-", "_")
    if text.endswith("policy") and text != "policy":
        text = text[: -len("policy")].rstrip("_")
    text = _POLICY_ALIASES.get(text.replace("_", ""), text)
    if text not in POLICIES:
        raise SweepError(f"unknown early-termination policy {name!r}; allowed: "
                         f"{allowed_list(POLICIES)}.{did_you_mean(text, POLICIES)}")
    return POLICIES[text]


def policy_from_dict(data: EarlyTerminationPolicy | Mapping[str, Any] | str | None
                     ) -> EarlyTerminationPolicy:
    """Build a policy from ``{"type": "bandit", "slack_factor": 0.1, ...}``.

    ``None`` and ``"none"`` give :class:`NoTerminationPolicy`; a policy is returned as is.

    Example::

        policy_from_dict({"type": "truncation_selection", "truncation_percentage": 20})
    """
    if data is None:
        return NoTerminationPolicy()
    if isinstance(data, EarlyTerminationPolicy):
        return data
    if isinstance(data, str):
        data = {"type": data}
    if not isinstance(data, Mapping) or "type" not in data:
        raise SweepError(f"a policy definition is a dict with a 'type' key, got {data!r}.")
    cls = _policy_type(data["type"])
    allowed = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    options = {str(k): v for k, v in data.items() if k != "type"}
    for key in options:
        if key not in allowed:
            raise SweepError(f"{cls.__name__} has no option {key!r}; allowed: "
                             f"{allowed_list(allowed)}.{did_you_mean(key, allowed)}")
    factory: Callable[..., EarlyTerminationPolicy] = cls
    try:
        return factory(**options)
    except TypeError as exc:  # a required setting is missing
        raise SweepError(f"{cls.__name__} cannot be built from {dict(data)!r}: {exc}; "
                         f"settings: {allowed_list(allowed)}.") from None
