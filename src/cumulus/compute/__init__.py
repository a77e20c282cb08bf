"""Compute targets: named Dask clusters with min/max nodes and idle scale-down.

Example::

    from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec
    cfg = ClusterConfig(backend="local", min_nodes=0, max_nodes=4,
                        idle_seconds_before_scaledown=120, node=NodeSpec(cpus=1))
    target = ComputeTarget.create(ws, "cpu-cluster", cfg)
    target.wait_for_completion(show_output=True)
"""

from __future__ import annotations

from cumulus.compute._config import ClusterConfig, NodeSpec, parse_memory
from cumulus.compute._quota import Limits, Usage
from cumulus.compute._quotas import Quota
from cumulus.compute._status import ClusterStatus
from cumulus.compute._target import ComputeTarget, list_targets

__all__ = ["ClusterConfig", "ClusterStatus", "ComputeTarget", "Limits", "NodeSpec", "Quota",
           "Usage", "list_targets", "parse_memory"]
