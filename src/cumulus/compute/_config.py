"""ClusterConfig and NodeSpec: what a compute target is, validated when constructed.

Example::

    cfg = ClusterConfig(backend="local", min_nodes=0, max_nodes=4,
                        idle_seconds_before_scaledown=120,
                        node=NodeSpec(cpus=1, memory="2GiB", gpus=0))
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cumulus.errors import ValidationError, allowed_list, did_you_mean

BACKENDS = ("local", "address", "ssh", "kubernetes", "azure")
PRIORITIES = ("dedicated", "low")
RESERVED_RESOURCES = ("cpus", "gpus", "memory")
_MEMORY_HELP = "Use a number of bytes or a string like '512MiB', '2GiB' or '4GB'."


MAX_NODES = 10_000  # more nodes than this is a typo, not a cluster


def parse_memory(value: str | int | float | None, what: str = "memory") -> int | None:
    """Bytes from ``'2GiB'``, ``'512 MB'`` or a number; None stays None.

    >>> parse_memory("2GiB")
    2147483648
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"{what} {value!r} is a {type(value).__name__}. {_MEMORY_HELP}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            raise ValidationError(f"{what} must be a positive number of bytes, got {value!r}. "
                                  + _MEMORY_HELP)
        return int(value)
    from dask.utils import parse_bytes  # Dask's own units: what its workers are given

    if not re.fullmatch(r"\s*[0-9]*\.?[0-9]+\s*[a-zA-Z]*\s*", value):  # a number, a unit
        raise ValidationError(f"{what} {value!r} does not parse. {_MEMORY_HELP}")
    try:
        amount = int(parse_bytes(value.strip()))
    except ValueError:
        raise ValidationError(f"{what} {value!r} does not parse. {_MEMORY_HELP}") from None
    if amount <= 0:
        raise ValidationError(f"{what} must be more than 0 bytes, got {value!r}. "
                              + _MEMORY_HELP)
    return amount


def _int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ValidationError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class NodeSpec:
    """One node of a cluster: a Dask worker with ``cpus`` threads, a memory limit, a GPU
    count and any custom resources, all advertised as Dask worker resources.

    Example::

        NodeSpec(cpus=4, memory="16GiB", gpus=1, resources={"ssd": 1})
    """

    cpus: int = 1
    memory: str | int | None = None
    gpus: int = 0
    resources: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _int("NodeSpec.cpus", self.cpus, 1)
        _int("NodeSpec.gpus", self.gpus, 0)
        parse_memory(self.memory, "NodeSpec.memory")
        if not isinstance(self.resources, dict):
            raise ValidationError(f"NodeSpec.resources must be a dict of name -> amount, got "
                                  f"{self.resources!r}.")
        for k, v in self.resources.items():
            if not isinstance(k, str) or not k:
                raise ValidationError(f"NodeSpec.resources keys must be names, got {k!r}.")
            if k in RESERVED_RESOURCES:
                raise ValidationError(f"NodeSpec.resources[{k!r}]: {k!r} has its own field; "
                                      f"use NodeSpec({k}=...).")
            if _number(f"NodeSpec.resources[{k!r}]", v) < 0:
                raise ValidationError(f"NodeSpec.resources[{k!r}] must be >= 0, got {v!r}.")

    @property
    def memory_bytes(self) -> int | None:
        return parse_memory(self.memory)

    def worker_resources(self) -> dict[str, float]:
        """The resources one node offers, as Dask worker resources."""
        res: dict[str, float] = {"cpus": float(self.cpus), "gpus": float(self.gpus)}
        res.update({k: float(v) for k, v in self.resources.items()})
        if self.memory_bytes:
            res["memory"] = float(self.memory_bytes)
        return res


def node_from_dict(data: dict[str, Any]) -> NodeSpec:
    known = [f.name for f in fields(NodeSpec)]
    for key in data:
        if key not in known:
            raise ValidationError(f"Unknown NodeSpec field {key!r}. Allowed: "
                                  f"{allowed_list(known)}." + did_you_mean(key, known))
    return NodeSpec(**data)


@dataclass(frozen=True)
class ClusterConfig:
    """A compute target's definition; the three scale knobs match the managed service's.

    ``max_attempts`` is how often a run is started when its node dies under it;
    ``priority="low"`` marks nodes that may be taken away (preemptible, Azure ML's
    ``vm_priority="lowpriority"``): a lost node then counts as a preemption, and a run is
    started again up to ``max_preemptions`` more times, resuming from its checkpoints
    (files it saved under ``$CUMULUS_CHECKPOINT_DIR``); ``address`` is the scheduler of an
    ``address`` target; ``options`` go to the Dask cluster class of the ``ssh``,
    ``kubernetes`` and ``azure`` backends. ``node_setup`` is a bash command run once on each
    new node before it takes a run (``node_setup_timeout`` seconds at most); a node whose
    setup fails takes no run and is released when idle (see ``compute/_setup.py``).

    Example::

        ClusterConfig(backend="local", min_nodes=0, max_nodes=4,
                      idle_seconds_before_scaledown=120, node=NodeSpec(cpus=1, memory="2GiB"))
    """

    backend: str = "local"
    min_nodes: int = 0
    max_nodes: int = 4
    idle_seconds_before_scaledown: float = 120
    node: NodeSpec = field(default_factory=NodeSpec)
    max_attempts: int = 3
    priority: str = "dedicated"
    max_preemptions: int = 10
    address: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    node_setup: str | None = None
    node_setup_timeout: float = 600.0

    def __post_init__(self) -> None:
        if not isinstance(self.backend, str) or self.backend not in BACKENDS:
            raise ValidationError(
                f"Unknown compute backend {self.backend!r}. Allowed: {allowed_list(BACKENDS)}."
                + did_you_mean(str(self.backend), BACKENDS))
        if isinstance(self.node, dict):
            object.__setattr__(self, "node", node_from_dict(self.node))
        if not isinstance(self.node, NodeSpec):
            raise ValidationError(f"node must be a NodeSpec, got {self.node!r}.")
        _int("min_nodes", self.min_nodes, 0)
        _int("max_nodes", self.max_nodes, 1)
        if self.max_nodes > MAX_NODES:
            raise ValidationError(f"max_nodes must be at most {MAX_NODES}, got "
                                  f"{self.max_nodes}. Split the work over several targets.")
        _int("max_attempts", self.max_attempts, 1)
        _int("max_preemptions", self.max_preemptions, 0)
        if self.priority not in PRIORITIES:
            raise ValidationError(f"priority must be one of {allowed_list(PRIORITIES)}, got "
                                  f"{self.priority!r}." + did_you_mean(str(self.priority),
                                                                       PRIORITIES))
        if self.min_nodes > self.max_nodes:
            raise ValidationError(
                f"min_nodes ({self.min_nodes}) is greater than max_nodes ({self.max_nodes}); "
                "lower min_nodes or raise max_nodes.")
        idle = _number("idle_seconds_before_scaledown", self.idle_seconds_before_scaledown)
        if idle < 0:
            raise ValidationError(f"idle_seconds_before_scaledown must be >= 0 seconds, got "
                                  f"{self.idle_seconds_before_scaledown!r}.")
        if not isinstance(self.options, dict):
            raise ValidationError(f"options must be a dict, got {self.options!r}.")
        if self.node_setup is not None and (not isinstance(self.node_setup, str)
                                            or not self.node_setup.strip()):
            raise ValidationError(f"node_setup must be a bash command (a non-empty string) or "
                                  f"None, got {self.node_setup!r}.")
        if _number("node_setup_timeout", self.node_setup_timeout) <= 0:
            raise ValidationError(f"node_setup_timeout must be > 0 seconds, got "
                                  f"{self.node_setup_timeout!r}.")
        from cumulus.compute._extras import validate_backend_config

        validate_backend_config(self)

    @property
    def attempt_limit(self) -> int:
        """How many times a run may be started on this target in all."""
        return self.max_attempts + (self.max_preemptions if self.priority == "low" else 0)

    def scale_settings(self) -> dict[str, Any]:
        return {"min_nodes": self.min_nodes, "max_nodes": self.max_nodes,
                "idle_seconds_before_scaledown": self.idle_seconds_before_scaledown}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterConfig:
        data = dict(data)
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                raise ValidationError(f"Unknown ClusterConfig field {key!r}. Allowed: "
                                      f"{allowed_list(known)}." + did_you_mean(key, known))
        node = data.pop("node", None) or {}
        return cls(node=node if isinstance(node, NodeSpec) else node_from_dict(node), **data)

    def replace(self, **changes: Any) -> ClusterConfig:
        """A copy with ``changes`` applied (None keeps a value), validated again."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return ClusterConfig.from_dict(data)
