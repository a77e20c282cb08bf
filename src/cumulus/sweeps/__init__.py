"""Hyperparameter sweeps: parameter expressions, samplers and early-termination policies.

Names follow Azure ML's HyperDrive so that its tutorials translate line by line::

    from cumulus.sweeps import RandomSampling, BanditPolicy, choice, loguniform
    sampling = RandomSampling({"--lr": loguniform(-6, -1), "--batch": choice(16, 32, 64)})
    policy = BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=5)

Samplers and policies are pure decisions over frozen snapshots (:class:`TrialRecord` histories,
:class:`PolicySnapshot`); the sweep controller around them does the I/O.
"""

from __future__ import annotations

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
)
from ._policies import (
    POLICIES,
    AshaPolicy,
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PolicySnapshot,
    TrialProgress,
    TruncationSelectionPolicy,
    policy_from_dict,
)
from ._run import SweepRun, TrialSummary
from ._sampling import (
    SAMPLERS,
    BayesianSampling,
    CmaEsSampling,
    GridSampling,
    RandomSampling,
    SobolSampling,
    sampling_from_dict,
)
from ._sampling_base import (
    TRIAL_STATES,
    Goal,
    Sampling,
    TrialRecord,
    TrialState,
    normalize_goal,
)
from ._space import (
    EXPRESSION_TYPES,
    SearchSpace,
    choice,
    expression_from_dict,
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
from ._sweep import Sweep

__all__ = [
    "EXPRESSION_TYPES",
    "POLICIES",
    "SAMPLERS",
    "TRIAL_STATES",
    "AshaPolicy",
    "BanditPolicy",
    "BayesianSampling",
    "Choice",
    "CmaEsSampling",
    "EarlyTerminationPolicy",
    "Goal",
    "GridSampling",
    "LogNormal",
    "LogUniform",
    "MedianStoppingPolicy",
    "NoTerminationPolicy",
    "Normal",
    "ParameterExpression",
    "PolicySnapshot",
    "QLogNormal",
    "QLogUniform",
    "QNormal",
    "QUniform",
    "RandInt",
    "RandomSampling",
    "Sampling",
    "SearchSpace",
    "SobolSampling",
    "Sweep",
    "SweepRun",
    "TrialProgress",
    "TrialRecord",
    "TrialState",
    "TrialSummary",
    "TruncationSelectionPolicy",
    "Uniform",
    "choice",
    "expression_from_dict",
    "lognormal",
    "loguniform",
    "normal",
    "normalize_goal",
    "policy_from_dict",
    "qlognormal",
    "qloguniform",
    "qnormal",
    "quniform",
    "randint",
    "sampling_from_dict",
    "uniform",
]
