"""A run's resource request: normalised, and refused when no node can ever hold it.

Pure functions; ``ComputeTarget.resources_for`` and the manager's recovery use them.

Example::

    request_for({"gpus": 1})                              # {'cpus': 1.0, 'gpus': 1.0}
    check_fits("gpu", {"cpus": 2, "gpus": 0}, {"cpus": 1, "gpus": 1}, max_nodes=4)
    # ResourceUnavailableError: ... asks for gpus=1 but every node ... has gpus=0 ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cumulus.compute._config import parse_memory
from cumulus.errors import ResourceUnavailableError, ValidationError, allowed_list

DEFAULT_REQUEST = {"cpus": 1.0}


def request_for(requested: Mapping[str, Any] | None) -> dict[str, float]:
    """The run's request in node units: ``cpus`` defaults to 1, ``memory`` strings become
    bytes, zero amounts are dropped."""
    req: dict[str, float] = dict(DEFAULT_REQUEST)
    for name, amount in (requested or {}).items():
        if not isinstance(name, str) or not name:
            raise ValidationError(f"resource names must be strings, got {name!r}.")
        if name == "memory":
            req[name] = float(parse_memory(amount, "resources['memory']") or 0)
            continue
        if isinstance(amount, bool) or not isinstance(amount, int | float) or \
                not math.isfinite(amount) or amount < 0:
            raise ValidationError(f"resources[{name!r}] must be a number >= 0, got "
                                  f"{amount!r}.")
        req[name] = float(amount)
    return {k: v for k, v in req.items() if v}


def node_count_of(distribution: Any) -> int:
    """How many distinct nodes a distributed run needs (1 when not distributed)."""
    if distribution is None:
        return 1
    if isinstance(distribution, Mapping):
        value = distribution.get("node_count", 1)
    else:   # TensorflowDistribution counts workers + parameter servers in ``nodes``
        value = getattr(distribution, "nodes", None) or getattr(distribution, "node_count", 1)
    return int(value or 1)


def check_fits(target: str, node: Mapping[str, float] | None, request: Mapping[str, float],
               *, max_nodes: int | None = None, distribution: Any = None) -> None:
    """Raise ResourceUnavailableError when no node of ``target`` could ever run ``request``."""
    nodes_needed = node_count_of(distribution)
    if max_nodes is not None and nodes_needed > max_nodes:
        raise ResourceUnavailableError(
            f"The run needs {nodes_needed} nodes but compute target {target!r} has at most "
            f"{max_nodes} (max_nodes). Lower node_count or update the target's max_nodes.")
    if node is None:
        return
    for name, amount in request.items():
        have = float(node.get(name, 0.0))
        if name == "cpus" and name not in node:
            have = 1.0
        if amount > have + 1e-9:
            if name not in node:
                raise ResourceUnavailableError(
                    f"The run asks for resource {name!r}, which no node of compute target "
                    f"{target!r} has (nodes offer {allowed_list(node)}), so it could never "
                    f"start. Drop the request or give the target's NodeSpec "
                    f"resources={{{name!r}: {amount:g}}}.")
            raise ResourceUnavailableError(
                f"The run asks for {name}={_fmt(name, amount)} but every node of compute "
                f"target {target!r} has {name}={_fmt(name, have)}, so it could never start. "
                "Lower the request or use a target whose NodeSpec is big enough.")


def _fmt(name: str, amount: float) -> str:
    if name == "memory":
        return f"{amount / 2**30:.2f}GiB"
    return f"{amount:g}"
