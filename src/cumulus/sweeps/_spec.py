"""A stored sweep definition, read back: what a controller (or the submitting process, for
the first trials) works with.

Example::

    spec = SweepSpec.from_definition(_state.load(store, sweep_id).definition)
    spec.sampler.suggest(spec.warm_start, 2, goal=spec.goal)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._plan import Limits
from ._policies import EarlyTerminationPolicy, policy_from_dict
from ._sampling import sampling_from_dict
from ._sampling_base import Goal, Sampling, TrialRecord, normalize_goal
from ._trials import TrialTemplate


@dataclass(frozen=True)
class SweepSpec:
    """The parts of a stored sweep definition a controller works with.

    Example::

        spec = SweepSpec.from_definition(_state.load(store, sweep_id).definition)
        spec.sampler.suggest(spec.warm_start, 2, goal=spec.goal)
    """

    metric: str
    goal: Goal
    sampler: Sampling
    policy: EarlyTerminationPolicy
    limits: Limits
    template: TrialTemplate
    warm_start: tuple[TrialRecord, ...]
    summary: str = "best"
    finisher: str | None = None

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> SweepSpec:
        minutes = definition.get("max_duration_minutes")
        limits = Limits(max_total_runs=definition.get("max_total_runs"),
                        max_concurrent_runs=int(definition["max_concurrent_runs"]),
                        max_duration_seconds=None if minutes is None else float(minutes) * 60)
        warm = tuple(TrialRecord(r["trial_id"], r["params"], value=r.get("value"),
                                 state=r["state"]) for r in definition.get("warm_start") or ())
        return cls(metric=str(definition["primary_metric_name"]),
                   goal=normalize_goal(definition["primary_metric_goal"]),
                   sampler=sampling_from_dict(definition["sampling"]),
                   policy=policy_from_dict(definition.get("policy")), limits=limits,
                   template=TrialTemplate.from_dict(definition["trial_template"]),
                   warm_start=warm,
                   summary=str(definition.get("primary_metric_summary") or "best"),
                   finisher=definition.get("finisher"))
