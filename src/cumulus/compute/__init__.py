"""Compute targets: named Dask clusters with min/max nodes and idle scale-down."""

from __future__ import annotations

from cumulus.compute._config import ClusterConfig, NodeSpec, parse_memory
from cumulus.compute._target import ComputeTarget, list_targets

__all__ = ["ClusterConfig", "ComputeTarget", "NodeSpec", "list_targets", "parse_memory"]
