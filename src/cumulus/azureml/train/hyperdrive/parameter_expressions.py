"""``azureml.train.hyperdrive.parameter_expressions``: the same expressions as Cumulus's."""

from cumulus.sweeps import (
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

__all__ = ["choice", "lognormal", "loguniform", "normal", "qlognormal", "qloguniform", "qnormal",
           "quniform", "randint", "uniform"]
