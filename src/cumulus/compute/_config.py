"""ClusterConfig and NodeSpec: what a compute target is, validated eagerly.

Example::

    cfg = ClusterConfig(backend="local", min_nodes=0, max_nodes=4,
                        idle_seconds_before_scaledown=120,
                        node=NodeSpec(cpus=1, memory="2GiB", gpus=0))
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cumulus.errors import ValidationError, allowed_list, did_you_mean

BACKENDS = ("local", "address", "ssh", "kubernetes", "azure")
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def parse_memory(value: str | int | float | None) -> int | None:
    """'2GiB' -> 2147483648; None stays None; a bad string is a ValidationError."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ValidationError(f"memory must be > 0 bytes, got {value!r}.")
        return int(value)
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValidationError(f"memory {value!r} does not parse. Use a number of bytes or a "
                              "string like '512MiB', '2GiB' or '4GB'.")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True)
class NodeSpec:
    """One node of a cluster: a Dask worker with these resources."""

    cpus: int = 1
    memory: str | int | None = None
    gpus: int = 0
    resources: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.cpus, int) or self.cpus < 1:
            raise ValidationError(f"NodeSpec.cpus must be an int >= 1, got {self.cpus!r}.")
        if not isinstance(self.gpus, int) or self.gpus < 0:
            raise ValidationError(f"NodeSpec.gpus must be an int >= 0, got {self.gpus!r}.")
        parse_memory(self.memory)
        for k, v in self.resources.items():
            if not isinstance(v, int | float) or v < 0:
                raise ValidationError(f"NodeSpec.resources[{k!r}] must be a number >= 0.")

    @property
    def memory_bytes(self) -> int | None:
        return parse_memory(self.memory)

    def worker_resources(self) -> dict[str, float]:
        res: dict[str, float] = {"cpus": self.cpus, "gpus": self.gpus, **self.resources}
        if self.memory_bytes:
            res["memory"] = self.memory_bytes
        return res


@dataclass(frozen=True)
class ClusterConfig:
    """A compute target's definition; the three scale knobs match the managed service's."""

    backend: str = "local"
    min_nodes: int = 0
    max_nodes: int = 4
    idle_seconds_before_scaledown: float = 120
    node: NodeSpec = field(default_factory=NodeSpec)
    max_attempts: int = 3
    address: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValidationError(f"Unknown compute backend {self.backend!r}. Allowed: "
                                  f"{allowed_list(BACKENDS)}." + did_you_mean(self.backend,
                                                                              BACKENDS))
        for name in ("min_nodes", "max_nodes", "max_attempts"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValidationError(f"{name} must be an int >= 0, got {v!r}.")
        if self.max_nodes < 1:
            raise ValidationError(f"max_nodes must be >= 1, got {self.max_nodes}.")
        if self.min_nodes > self.max_nodes:
            raise ValidationError(f"min_nodes ({self.min_nodes}) is greater than max_nodes "
                                  f"({self.max_nodes}); lower min_nodes or raise max_nodes.")
        if not isinstance(self.idle_seconds_before_scaledown, int | float) or \
                self.idle_seconds_before_scaledown < 0:
            raise ValidationError(f"idle_seconds_before_scaledown must be >= 0 seconds, got "
                                  f"{self.idle_seconds_before_scaledown!r}.")
        if self.max_attempts < 1:
            raise ValidationError("max_attempts must be >= 1.")
        if self.backend == "address" and not self.address:
            raise ValidationError("backend='address' needs address='tcp://host:8786'.")
        if isinstance(self.node, dict):
            object.__setattr__(self, "node", NodeSpec(**self.node))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClusterConfig:
        data = dict(data)
        node = data.pop("node", None) or {}
        return cls(node=NodeSpec(**node), **data)

    def replace(self, **changes: Any) -> ClusterConfig:
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return ClusterConfig.from_dict(data)
