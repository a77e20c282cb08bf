"""``azureml.core.runconfig``: RunConfiguration and the distributed-job configurations."""

from __future__ import annotations

from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.azureml.core.environment import Environment
from cumulus.distribution import MpiDistribution, PyTorchDistribution, TensorflowDistribution
from cumulus.errors import ValidationError


class DockerConfiguration:
    def __init__(self, use_docker: bool = False, shm_size: str | None = None,
                 shared_volumes: bool = True, arguments: list[str] | None = None) -> None:
        self.use_docker, self.shm_size = use_docker, shm_size
        self.shared_volumes, self.arguments = shared_volumes, list(arguments or [])


class PyTorchConfiguration:
    """``process_count`` processes over ``node_count`` nodes (torch DDP)."""

    def __init__(self, communication_backend: str = "Nccl", process_count: int | None = None,
                 node_count: int = 1) -> None:
        self.communication_backend = communication_backend
        self.node_count = int(node_count)
        self.process_count = int(process_count) if process_count else self.node_count

    def to_native(self) -> PyTorchDistribution:
        if self.process_count % self.node_count:
            raise ValidationError(f"PyTorchConfiguration: process_count={self.process_count} "
                                  f"is not a multiple of node_count={self.node_count}.")
        return PyTorchDistribution(node_count=self.node_count,
                                   process_count_per_node=self.process_count // self.node_count)


class MpiConfiguration:
    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node, self.node_count = int(process_count_per_node), int(node_count)

    def to_native(self) -> MpiDistribution:
        return MpiDistribution(node_count=self.node_count,
                               process_count_per_node=self.process_count_per_node)


class TensorflowConfiguration:
    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count, self.parameter_server_count = int(worker_count), int(
            parameter_server_count)

    def to_native(self) -> TensorflowDistribution:
        return TensorflowDistribution(worker_count=self.worker_count,
                                      parameter_server_count=self.parameter_server_count)


def native_distribution(config: Any) -> Any:
    """The native distribution for an SDK (or native) distributed-job configuration."""
    if config is None:
        return None
    to_native = getattr(config, "to_native", None)
    return to_native() if callable(to_native) else config


class RunConfiguration:
    """Where and how a script runs: ``target``, ``environment``, ``node_count``..."""

    def __init__(self, script: str | None = None, arguments: list[Any] | None = None,
                 framework: str | None = None, communicator: str | None = None,
                 conda_dependencies: Any = None, _history_enabled: Any = None,
                 _path: Any = None, _name: str | None = None, command: Any = None) -> None:
        self.script = script
        self.arguments = list(arguments or [])
        self.target: Any = "local"
        self.environment = Environment("default-environment")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.node_count = 1
        self.max_run_duration_seconds: float | None = None
        self.environment_variables: dict[str, str] = {}
        self.docker = DockerConfiguration()
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration()
        self.tensorflow = TensorflowConfiguration()
        self.data: dict[str, Any] = {}
        self.output_data: dict[str, Any] = {}
        self.command = command

    def distribution(self) -> Any:
        """The distributed setup the framework/communicator fields select, or None."""
        if self.communicator in ("IntelMpi", "OpenMpi", "Mpi"):
            return self.mpi.to_native()
        if self.communicator == "ParameterServer":
            return self.tensorflow.to_native()
        if self.framework == "PyTorch" and self.node_count > 1:
            return PyTorchDistribution(node_count=self.node_count)
        return None

    def save(self, path: str | None = None, name: str | None = None, **_: Any) -> None:
        azure_only("RunConfiguration.save", path or name or "called", "not written")


__all__ = ["DockerConfiguration", "MpiConfiguration", "PyTorchConfiguration", "RunConfiguration",
           "TensorflowConfiguration", "native_distribution"]
