"""A stored sweep definition, read back: what a controller (or the submitting process, for
the first trials) works with.

Example::

    spec = SweepSpec.from_definition(_state.load(store, sweep_id).definition)
    spec.sampler.suggest(spec.warm_start, 2, goal=spec.goal)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cumulus.errors import SweepError
from cumulus.specs import SweepSpec as SweepDoc

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
        doc = SweepDoc.from_definition(definition)     # JSON -> typed, at the boundary
        if doc.trial_template is None or doc.max_concurrent_runs is None:
            raise SweepError("the sweep's stored definition has no trial template or "
                             "concurrency; it was not recorded by a sweep submit")
        minutes = doc.max_duration_minutes
        limits = Limits(max_total_runs=doc.max_total_runs,
                        max_concurrent_runs=doc.max_concurrent_runs,
                        max_duration_seconds=None if minutes is None else float(minutes) * 60)
        warm = tuple(TrialRecord(r["trial_id"], r["params"], value=r.get("value"),
                                 state=r["state"]) for r in doc.warm_start)
        return cls(metric=doc.primary_metric_name,
                   goal=normalize_goal(doc.primary_metric_goal),
                   sampler=sampling_from_dict(doc.sampling),
                   policy=policy_from_dict(doc.policy or None), limits=limits,
                   template=TrialTemplate.from_dict(doc.trial_template),
                   warm_start=warm, summary=str(doc.primary_metric_summary or "best"),
                   finisher=doc.finisher)
