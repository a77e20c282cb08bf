"""The compute backend interface: small on purpose; clusters plug in behind it.

A backend turns a :class:`~cumulus.compute.ClusterConfig` into a Dask scheduler address and
queues runs on it. Runs are Dask tasks keyed ``cumulus-run-<run id>``; the cumulus scheduler
plugin (``_plugin.py``) places them on nodes with room. A later ``submit_group`` for gang
scheduling (N processes on N distinct nodes) fits the same shape: N tasks sharing one
``group`` annotation that the plugin places all at once or not at all.

Example::

    cls = backend_class("local")           # a missing optional extra raises with a hint
    backend = cls(ws, "cpu-cluster", config)
    backend.submit(run_id, ws.payload(), {"cpus": 1}, definition)
"""

from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from cumulus.errors import MissingDependencyError, ValidationError, allowed_list, did_you_mean

if TYPE_CHECKING:
    from cumulus.compute._config import ClusterConfig
    from cumulus.compute._status import ClusterStatus
    from cumulus.workspace import Workspace

RUN_PREFIX = "cumulus-run-"
ANNOTATION = "cumulus"      # the Dask annotation that carries a run's request


# backend name -> (dotted class path, (module to import, pip package, cumulus-ml extra) or None)
REGISTRY: dict[str, tuple[str, tuple[str, str, str] | None]] = {
    "local": ("cumulus.compute._managed.LocalBackend", None),
    "address": ("cumulus.compute._address.AddressBackend", None),
    "ssh": ("cumulus.compute._managed.SSHBackend", ("asyncssh", "asyncssh", "ssh")),
    "kubernetes": ("cumulus.compute._managed.KubernetesBackend",
                   ("dask_kubernetes", "dask-kubernetes", "kubernetes")),
    "azure": ("cumulus.compute._managed.AzureBackend",
              ("dask_cloudprovider.azure", "dask-cloudprovider[azure]", "cloud")),
}


def run_key(run_id: str) -> str:
    return f"{RUN_PREFIX}{run_id}"


class ComputeBackend(ABC):
    """Mechanics of one cluster kind; the target's definition and state live in the store."""

    #: whether Cumulus owns the cluster's scaling (False for ``address``)
    manages_scaling = True

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

    def submit(self, run_id: str, ws_payload: dict[str, Any], resources: dict[str, float],
               definition: dict[str, Any]) -> None:
        """Queue one run on the cluster: the launch layer plans its tasks (one, or one whole
        node per node of a distributed run) and places them; backends only say what a node
        offers (``node_shape``)."""
        from cumulus.compute._launch import place, plan
        from cumulus.specs import ScriptSpec

        client = self.client()
        tasks = plan(run_id, ScriptSpec.from_definition(definition), resources,
                     self.node_shape(client), self.config.attempt_limit)
        place(client, tasks, ws_payload, ws_payload.get("store_url") or self.ws.store_url)

    def node_shape(self, client: Any) -> dict[str, float] | None:
        """What one node offers, for a distributed run's whole-node tasks (None: unknown)."""
        return self.node_resources()

    @abstractmethod
    def client(self) -> Any:
        """A Dask client of the cluster's scheduler (started if need be)."""

    @abstractmethod
    def status(self) -> ClusterStatus:
        """Node counts, allocation state, queued runs, scale settings."""

    @abstractmethod
    def stop(self) -> None:
        """Release every node (and the manager, if there is one)."""

    @classmethod
    def preflight(cls, config: ClusterConfig) -> None:
        """Check what can be checked before anything is recorded (hosts reachable, software
        there); raise a ComputeError naming what is wrong. Default: nothing to check."""
        return None

    def node_resources(self) -> dict[str, float] | None:
        """What one node offers, for refusing runs that can never fit (None: unknown)."""
        return self.config.node.worker_resources()

    def check_request(self, request: dict[str, float], distribution: Any = None) -> None:
        """Raise ResourceUnavailableError when no node could ever run ``request``."""
        from cumulus.compute._resources import check_fits

        check_fits(self.name, self.node_resources(), request,
                   max_nodes=self.config.max_nodes if self.manages_scaling else None,
                   distribution=distribution)


def require_extra(name: str) -> None:
    """Raise MissingDependencyError with the install hint if backend ``name`` lacks its extra."""
    needs = REGISTRY[name][1]
    if needs is None:
        return
    module, package, extra = needs
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingDependencyError(f"Compute backend {name!r}", package, extra)


def backend_class(name: str) -> type[ComputeBackend]:
    """The backend class registered as ``name``; unknown names get a suggestion."""
    if name not in REGISTRY:
        raise ValidationError(f"Unknown compute backend {name!r}. Allowed: "
                              f"{allowed_list(REGISTRY)}." + did_you_mean(name, REGISTRY))
    path = REGISTRY[name][0]
    module, _, cls = path.rpartition(".")
    return getattr(importlib.import_module(module), cls)
