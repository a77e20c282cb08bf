"""Distributed-training settings for ScriptRunConfig(distribution=...).

Each node of the run is one Dask task placed on a distinct node of the compute target, all at
once (gang scheduling). On every node Cumulus starts ``process_count_per_node`` processes with the
environment the framework's launcher expects.

Example::

    src = ScriptRunConfig(source_directory="src", script="train.py", compute_target="cpu",
                          distribution=PyTorchDistribution(node_count=2,
                                                           process_count_per_node=1))
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from cumulus.errors import ValidationError


def _positive(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValidationError(f"{name} must be an int >= {minimum}, got {value!r}.")


@dataclass(frozen=True)
class PyTorchDistribution:
    """torch.distributed: sets MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK,
    LOCAL_WORLD_SIZE and NODE_RANK for every process."""

    node_count: int = 1
    process_count_per_node: int = 1

    def __post_init__(self) -> None:
        _positive("node_count", self.node_count)
        _positive("process_count_per_node", self.process_count_per_node)

    @property
    def nodes(self) -> int:
        return self.node_count

    def to_dict(self) -> dict[str, Any]:
        return {"type": "pytorch", **asdict(self)}


@dataclass(frozen=True)
class TensorflowDistribution:
    """TF_CONFIG for MultiWorkerMirroredStrategy / parameter servers: one task per node."""

    worker_count: int = 1
    parameter_server_count: int = 0

    def __post_init__(self) -> None:
        _positive("worker_count", self.worker_count)
        _positive("parameter_server_count", self.parameter_server_count, 0)

    @property
    def nodes(self) -> int:
        return self.worker_count + self.parameter_server_count

    @property
    def process_count_per_node(self) -> int:
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {"type": "tensorflow", **asdict(self), "node_count": self.nodes,
                "process_count_per_node": 1}


@dataclass(frozen=True)
class MpiDistribution(PyTorchDistribution):
    """An MPI-style host list for other launchers: CUMULUS_HOSTS ("h1:slots,h2:slots"), a
    hostfile in CUMULUS_HOSTFILE, plus the same rank variables as PyTorchDistribution."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": "mpi", **asdict(self)}


def node_count(definition: dict[str, Any] | None) -> int:
    return int((definition or {}).get("node_count") or 1)


__all__ = ["MpiDistribution", "PyTorchDistribution", "TensorflowDistribution", "node_count"]
