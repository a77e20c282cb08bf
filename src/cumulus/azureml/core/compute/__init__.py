"""``azureml.core.compute``: ``ComputeTarget`` and ``AmlCompute`` over Cumulus compute targets.

``AmlCompute.provisioning_configuration(vm_size=..., min_nodes=..., max_nodes=...,
idle_seconds_before_scaledown=...)`` gives a :class:`cumulus.ClusterConfig` (``local`` backend);
``vm_size`` becomes a node of that size where this machine has it (a table of common sizes,
capped at this machine's cores, memory and GPUs), everything network- or identity-related is
recorded and reported once.
"""

from __future__ import annotations

import builtins
import os
from typing import Any

from cumulus.azureml._compat import as_int, azure_only, unsupported
from cumulus.azureml.core.compute_target import ComputeTargetException, _TargetNotFound
from cumulus.compute import ClusterConfig, NodeSpec
from cumulus.compute import ComputeTarget as _NativeTarget
from cumulus.errors import ComputeTargetNotFoundError

#: VM size -> (cores, memory GiB, GPUs), for the sizes SDK samples use most
VM_SIZES: dict[str, tuple[int, float, int]] = {
    "STANDARD_D1_V2": (1, 3.5, 0), "STANDARD_D2_V2": (2, 7, 0), "STANDARD_D3_V2": (4, 14, 0),
    "STANDARD_D4_V2": (8, 28, 0), "STANDARD_D11_V2": (2, 14, 0), "STANDARD_D12_V2": (4, 28, 0),
    "STANDARD_D2_V3": (2, 8, 0), "STANDARD_D4_V3": (4, 16, 0), "STANDARD_D8_V3": (8, 32, 0),
    "STANDARD_DS3_V2": (4, 14, 0), "STANDARD_DS11_V2": (2, 14, 0), "STANDARD_DS12_V2": (4, 28, 0),
    "STANDARD_F4S_V2": (4, 8, 0), "STANDARD_E4S_V3": (4, 32, 0),
    "STANDARD_NC6": (6, 56, 1), "STANDARD_NC12": (12, 112, 2), "STANDARD_NC24": (24, 224, 4),
    "STANDARD_NC6S_V3": (6, 112, 1), "STANDARD_NC12S_V3": (12, 224, 2),
    "STANDARD_NC24S_V3": (24, 448, 4), "STANDARD_NC4AS_T4_V3": (4, 28, 1),
    "STANDARD_ND40RS_V2": (40, 672, 8), "STANDARD_NV6": (6, 56, 1),
}


def _machine() -> tuple[int, float, int]:
    """This machine's cores, memory (GiB) and GPUs."""
    import psutil

    gpus = len([d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d]) \
        if "CUDA_VISIBLE_DEVICES" in os.environ else _count_gpus()
    return os.cpu_count() or 1, psutil.virtual_memory().total / 2**30, gpus


def _count_gpus() -> int:
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return 0
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.stdout.splitlines() if line.startswith("GPU "))


def node_for_vm_size(vm_size: str | None) -> NodeSpec:
    """A node shaped like ``vm_size`` as far as this machine has it (honest: never more)."""
    if not vm_size:
        return NodeSpec(cpus=1)
    size = VM_SIZES.get(vm_size.upper())
    if size is None:
        azure_only("vm_size", vm_size, "not in Cumulus's table of VM sizes; nodes get 1 core")
        return NodeSpec(cpus=1)
    cores, mem, gpus = size
    have_cores, have_mem, have_gpus = _machine()
    node = NodeSpec(cpus=max(1, min(cores, have_cores)),
                    memory=f"{max(0.5, min(mem, have_mem * 0.9)):.1f}GiB",
                    gpus=min(gpus, have_gpus))
    if (node.cpus, node.gpus) != (cores, gpus):
        azure_only("vm_size", vm_size, f"{cores} cores, {mem:g} GiB, {gpus} GPU(s) on Azure; "
                   f"this machine gives each node {node.cpus} core(s), {node.memory} and "
                   f"{node.gpus} GPU(s)")
    return node


class ComputeTarget(_NativeTarget):
    """``ComputeTarget(workspace, name)`` (raises ComputeTargetException when missing),
    ``ComputeTarget.create(ws, name, provisioning_configuration)``."""

    def __init__(self, workspace: Any, name: str) -> None:
        try:
            super().__init__(workspace, name)
        except ComputeTargetNotFoundError as exc:
            raise _TargetNotFound(str(exc)) from None

    @classmethod
    def create(cls, workspace: Any, name: str, config: Any, *,
               exist_ok: bool = True, **_: Any) -> ComputeTarget:
        if not isinstance(config, ClusterConfig):
            raise ComputeTargetException(
                f"ComputeTarget.create needs AmlCompute.provisioning_configuration(...), got "
                f"{type(config).__name__}.")
        _NativeTarget.create(workspace, name, config, exist_ok=exist_ok)
        return AmlCompute(workspace, name)

    @staticmethod
    def list(workspace: Any) -> list[ComputeTarget]:
        return list(workspace.compute_targets.values())

    @property
    def type(self) -> str:
        return "AmlCompute"

    @property
    def status(self) -> Any:
        return self.get_status()

    @property
    def provisioning_state(self) -> str:
        return "Succeeded"

    @property
    def vm_size(self) -> str:
        node = self.config.node
        return f"cumulus-{node.cpus}cpu-{node.gpus}gpu"

    @property
    def scale_settings(self) -> dict[str, Any]:
        return self.config.scale_settings()

    def wait_for_completion(self, show_output: bool = False,
                            min_node_count: int | None = None, timeout_in_minutes: float = 25,
                            is_delete_operation: bool = False) -> Any:
        if is_delete_operation:
            return None
        return super().wait_for_completion(show_output=show_output,
                                           min_node_count=min_node_count,
                                           timeout_in_minutes=timeout_in_minutes)

    def list_nodes(self) -> builtins.list[dict[str, Any]]:
        """One entry per node, with its state (idle, running, preparing, leaving, unusable)."""
        counts = self.get_status().node_state_counts
        return [{"nodeId": f"{self.name}-{state}-{i}", "nodeState": state}
                for state, n in counts.items() for i in range(n)]

    def update(self, min_nodes: Any = None, max_nodes: Any = None,  # type: ignore[override]
               idle_seconds_before_scaledown: Any = None) -> None:
        super().update(min_nodes=as_int("min_nodes", min_nodes),
                       max_nodes=as_int("max_nodes", max_nodes),
                       idle_seconds_before_scaledown=as_int("idle_seconds_before_scaledown",
                                                            idle_seconds_before_scaledown))

    def get(self) -> ComputeTarget:
        return self

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, **self.config.to_dict()}


class AmlCompute(ComputeTarget):
    """An autoscaling cluster: a Cumulus compute target on the ``local`` backend."""

    @staticmethod
    def provisioning_configuration(vm_size: str = "", vm_priority: str = "dedicated",
                                   min_nodes: Any = 0, max_nodes: Any = None,
                                   idle_seconds_before_scaledown: Any = None,
                                   **azure: Any) -> ClusterConfig:
        if vm_priority not in ("dedicated", "lowpriority"):
            raise ComputeTargetException(f"vm_priority must be 'dedicated' or 'lowpriority', "
                                         f"got {vm_priority!r}.")
        for key, value in azure.items():
            azure_only(key, value, "network, identity and access settings are not used")
        low = as_int("min_nodes", min_nodes) or 0
        high = as_int("max_nodes", max_nodes)
        idle = as_int("idle_seconds_before_scaledown", idle_seconds_before_scaledown)
        return ClusterConfig(backend="local", min_nodes=low,
                             max_nodes=high if high is not None else max(low, 4),
                             idle_seconds_before_scaledown=idle if idle is not None else 1800,
                             node=node_for_vm_size(vm_size),
                             priority="low" if vm_priority == "lowpriority" else "dedicated")

    @staticmethod
    def supported_vmsizes(workspace: Any, location: str | None = None) -> list[dict[str, Any]]:
        have_cores, _, have_gpus = _machine()
        return [{"name": name, "vCPUs": c, "memoryGB": m, "gpus": g}
                for name, (c, m, g) in VM_SIZES.items() if c <= have_cores and g <= have_gpus]


class ComputeInstance(ComputeTarget):
    """A notebook VM on Azure; here any existing target of that name."""

    @staticmethod
    def provisioning_configuration(vm_size: str = "", **azure: Any) -> ClusterConfig:
        for key, value in azure.items():
            azure_only(key, value, "not used")
        return ClusterConfig(backend="local", min_nodes=0, max_nodes=1,
                             node=node_for_vm_size(vm_size))


class AksCompute(ComputeTarget):
    @staticmethod
    def provisioning_configuration(**_: Any) -> Any:
        unsupported("AksCompute.provisioning_configuration",
                    "Deploy models with LocalWebservice (a local scoring service) or package "
                    "them as a Docker image: Model.package(ws, [model], inference_config).")

    @staticmethod
    def attach_configuration(**_: Any) -> Any:
        unsupported("AksCompute.attach_configuration",
                    "Use LocalWebservice, or run the Docker image from Model.package anywhere.")


__all__ = [
    "VM_SIZES",
    "AksCompute",
    "AmlCompute",
    "ComputeInstance",
    "ComputeTarget",
    "ComputeTargetException",
    "node_for_vm_size",
]
