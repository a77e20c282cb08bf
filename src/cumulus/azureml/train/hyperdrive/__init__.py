"""``azureml.train.hyperdrive``: HyperDriveConfig, its samplings and policies, over sweeps.

``exp.submit(HyperDriveConfig(...))`` starts a Cumulus :class:`~cumulus.sweeps.Sweep`; the run
it returns is a :class:`~cumulus.sweeps.SweepRun` (``get_best_run_by_primary_metric``,
``get_children_sorted_by_primary_metric``, ``get_metrics`` of every trial by run id).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

from cumulus.azureml._compat import azure_only
from cumulus.azureml.train.hyperdrive.parameter_expressions import (
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from cumulus.submission import submit_config
from cumulus.sweeps import (
    BanditPolicy,
    BayesianSampling,
    GridSampling,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    RandomSampling,
    Sweep,
    SweepRun,
    TruncationSelectionPolicy,
)

if TYPE_CHECKING:
    from cumulus.experiment import Experiment


class PrimaryMetricGoal(enum.Enum):
    MAXIMIZE = "MAXIMIZE"
    MINIMIZE = "MINIMIZE"


def _seed(properties: dict[str, Any] | None) -> int | None:
    seed = (properties or {}).get("seed") if isinstance(properties, dict) else None
    return int(seed) if seed is not None else None


class RandomParameterSampling(RandomSampling):
    def __init__(self, parameter_space: Any, properties: dict[str, Any] | None = None) -> None:
        super().__init__(parameter_space, seed=_seed(properties))


class GridParameterSampling(GridSampling):
    def __init__(self, parameter_space: Any, properties: dict[str, Any] | None = None) -> None:
        super().__init__(parameter_space)


class BayesianParameterSampling(BayesianSampling):
    def __init__(self, parameter_space: Any, properties: dict[str, Any] | None = None) -> None:
        super().__init__(parameter_space, seed=_seed(properties))


class HyperDriveConfig:
    """A sweep of ``run_config`` (a ScriptRunConfig) over ``hyperparameter_sampling``."""

    def __init__(self, hyperparameter_sampling: Any, primary_metric_name: str,
                 primary_metric_goal: Any, max_total_runs: int,
                 max_concurrent_runs: int | None = None, max_duration_minutes: float = 10080,
                 policy: Any = None, estimator: Any = None, run_config: Any = None,
                 resume_from: Any = None, resume_child_runs: Any = None,
                 pipeline: Any = None, debug_flag: Any = None,
                 custom_run_id: str | None = None) -> None:
        config = run_config if run_config is not None else estimator
        if config is None:
            from cumulus.errors import SweepError

            raise SweepError("HyperDriveConfig needs run_config=ScriptRunConfig(...) (or "
                             "estimator=...): the script each trial runs.")
        azure_only("resume_child_runs", resume_child_runs, "use resume_from=<earlier sweep>")
        self.run_config = config
        self.hyperparameter_sampling = hyperparameter_sampling
        self.primary_metric_name = primary_metric_name
        self.primary_metric_goal = primary_metric_goal
        self.max_total_runs = max_total_runs
        self.max_concurrent_runs = max_concurrent_runs
        self.max_duration_minutes = max_duration_minutes
        self.policy = policy
        self.resume_from = resume_from

    def to_native(self) -> Sweep:
        run_config = self.run_config
        if hasattr(run_config, "to_native"):
            run_config = run_config.to_native()
        return Sweep(run_config, self.hyperparameter_sampling, self.primary_metric_name,
                     self.primary_metric_goal, policy=self.policy,
                     max_total_runs=self.max_total_runs,
                     max_concurrent_runs=self.max_concurrent_runs,
                     max_duration_minutes=self.max_duration_minutes,
                     resume_from=self.resume_from)


@submit_config.register(HyperDriveConfig)
def _submit(config: HyperDriveConfig, experiment: Experiment, **options: Any) -> SweepRun:
    return submit_config(config.to_native(), experiment, **options)  # type: ignore[return-value]


HyperDriveRun = SweepRun

__all__ = ["BanditPolicy", "BayesianParameterSampling", "GridParameterSampling",
           "HyperDriveConfig", "HyperDriveRun", "MedianStoppingPolicy", "NoTerminationPolicy",
           "PrimaryMetricGoal", "RandomParameterSampling", "TruncationSelectionPolicy", "choice",
           "lognormal", "loguniform", "normal", "qlognormal", "qloguniform", "qnormal",
           "quniform", "randint", "uniform"]
