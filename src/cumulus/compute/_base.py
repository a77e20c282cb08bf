"""The compute backend interface: small on purpose; clusters plug in behind it."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from cumulus.errors import MissingDependencyError, ValidationError

if TYPE_CHECKING:
    from cumulus.compute._config import ClusterConfig
    from cumulus.workspace import Workspace

# backend name -> (dotted class path, (package, extra) needed beyond the core)
REGISTRY: dict[str, tuple[str, tuple[str, str] | None]] = {
    "local": ("cumulus.compute._local.LocalBackend", None),
}


class ComputeBackend(ABC):
    """Mechanics of one cluster kind; the target's definition and state live in the store."""

    def __init__(self, ws: Workspace, name: str, config: ClusterConfig) -> None:
        self.ws = ws
        self.name = name
        self.config = config

    @abstractmethod
    def start(self) -> None:
        """Begin provisioning without waiting."""

    @abstractmethod
    def ensure_running(self) -> str:
        """Make sure the cluster is up; return its Dask scheduler address."""

    @abstractmethod
    def submit(self, run_id: str, ws_payload: dict[str, Any], resources: dict[str, float],
               definition: dict[str, Any]) -> None:
        """Queue one run on the cluster."""

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Node counts, allocation state, queued runs, scale settings."""

    @abstractmethod
    def stop(self) -> None:
        """Release every node."""


def backend_class(name: str) -> type[ComputeBackend]:
    if name not in REGISTRY:
        from cumulus.errors import allowed_list, did_you_mean

        raise ValidationError(f"Unknown compute backend {name!r}. Allowed: "
                              f"{allowed_list(REGISTRY)}." + did_you_mean(name, REGISTRY))
    path, needs = REGISTRY[name]
    module, _, cls = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]
    except ImportError as exc:
        if needs:
            raise MissingDependencyError(f"Compute backend {name!r}", needs[0], needs[1]) \
                from exc
        raise
