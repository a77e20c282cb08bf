"""ClusterStatus: what ``ComputeTarget.get_status()`` returns.

Attribute access as in the managed service (``status.current_node_count``) and dict access as
in a JSON document (``status["current_node_count"]``).

Example::

    status = target.get_status()
    print(status.allocation_state, status.node_state_counts["idle"], status.queued_runs)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

NODE_STATES = ("idle", "running", "preparing", "leaving", "unusable")


def zero_counts() -> dict[str, int]:
    return dict.fromkeys(NODE_STATES, 0)


@dataclass(frozen=True)
class ClusterStatus:
    """A snapshot of a compute target: provisioning, nodes, runs and scale settings.

    ``provisioning_state`` is ``Creating``, ``Succeeded``, ``Failed`` (the manager died or
    could not start; the next use restarts it), ``Stopped`` or ``Unreachable``.
    """

    name: str
    backend: str
    provisioning_state: str
    current_node_count: int = 0
    target_node_count: int = 0
    allocation_state: str = "Steady"
    node_state_counts: dict[str, int] = field(default_factory=zero_counts)
    queued_runs: int = 0
    running_runs: int = 0
    scale_settings: dict[str, Any] = field(default_factory=dict)
    address: str | None = None
    manager: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    log: str | None = None

    def __getitem__(self, key: str) -> Any:
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)

    def keys(self) -> list[str]:
        return list(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def serialize(self) -> dict[str, Any]:
        """The status in the managed service's field names (``get_status().serialize()``)."""
        c = self.node_state_counts
        return {"currentNodeCount": self.current_node_count,
                "targetNodeCount": self.target_node_count,
                "allocationState": self.allocation_state,
                "provisioningState": self.provisioning_state,
                "nodeStateCounts": {"idleNodeCount": c.get("idle", 0),
                                    "runningNodeCount": c.get("running", 0),
                                    "preparingNodeCount": c.get("preparing", 0),
                                    "leavingNodeCount": c.get("leaving", 0),
                                    "unusableNodeCount": c.get("unusable", 0)},
                "scaleSettings": {"minNodeCount": self.scale_settings.get("min_nodes"),
                                  "maxNodeCount": self.scale_settings.get("max_nodes"),
                                  "nodeIdleTimeBeforeScaleDown":
                                      self.scale_settings.get("idle_seconds_before_scaledown")},
                "errors": list(self.errors)}

    def summary(self) -> str:
        c = self.node_state_counts
        return (f"{self.name}: {self.provisioning_state}, {self.allocation_state}, nodes "
                f"{self.current_node_count} (target {self.target_node_count}; idle {c['idle']}"
                f", running {c['running']}, preparing {c['preparing']}, leaving "
                f"{c['leaving']}), queued runs {self.queued_runs}")
