"""``azureml.train.dnn``: PyTorch, TensorFlow and Chainer estimators, and their distributions."""

from __future__ import annotations

from cumulus.azureml.core.runconfig import MpiConfiguration, TensorflowConfiguration
from cumulus.azureml.train.estimator import Estimator, Mpi


class PyTorch(Estimator):
    _framework_packages = ("torch",)


class TensorFlow(Estimator):
    _framework_packages = ("tensorflow",)


class Chainer(Estimator):
    _framework_packages = ("chainer",)


class Nccl:
    """``distributed_training=Nccl()``: torch DDP (gloo on CPU nodes)."""


class Gloo(Nccl):
    pass


class ParameterServer(TensorflowConfiguration):
    pass


__all__ = ["Chainer", "Gloo", "Mpi", "MpiConfiguration", "Nccl", "ParameterServer", "PyTorch",
           "TensorFlow"]
