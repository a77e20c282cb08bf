"""ComputeTarget: a named cluster whose definition and state live in the store.

Any process (a notebook, the CLI, a pipeline) sees the same target and submits to it.

Example::

    target = ComputeTarget.create(ws, "cpu-cluster", ClusterConfig(max_nodes=4))
    target.wait_for_completion(show_output=True)
    print(target.get_status()["current_node_count"])
"""

from __future__ import annotations

import math
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from cumulus.compute._config import ClusterConfig, NodeSpec
from cumulus.errors import (
    ComputeError,
    ComputeTargetNotFoundError,
    ResourceUnavailableError,
    ValidationError,
)

if TYPE_CHECKING:
    from cumulus.compute._base import ComputeBackend
    from cumulus.workspace import Workspace

LOCAL = "local"


def default_local_config(ws: Workspace) -> ClusterConfig:
    spec = ws.config.local_compute
    max_nodes = spec.max_nodes or max(1, (os.cpu_count() or 1) // spec.cpus_per_node)
    return ClusterConfig(backend="local", min_nodes=min(spec.min_nodes, max_nodes),
                         max_nodes=max_nodes,
                         idle_seconds_before_scaledown=spec.idle_seconds_before_scaledown,
                         node=NodeSpec(cpus=spec.cpus_per_node))


class ComputeTarget:
    """A named compute target; ``ComputeTarget(ws, name)`` opens an existing one."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name
        record = workspace.store.get_compute(name)
        if record is None:
            if name != LOCAL:
                known = sorted({LOCAL, *(r["name"] for r in workspace.store.list_compute())})
                raise ComputeTargetNotFoundError(
                    name, known, hint="Create it with ComputeTarget.create(ws, name, config) "
                                      "or `cumulus compute create`.")
            workspace.store.put_compute(LOCAL, backend="local",
                                        config=default_local_config(workspace).to_dict(),
                                        status="Succeeded", state={})
            record = workspace.store.get_compute(name)
        assert record is not None
        self._record = record

    # definition --------------------------------------------------------------------------
    @classmethod
    def create(cls, workspace: Workspace, name: str, config: ClusterConfig, *,
               exist_ok: bool = False) -> ComputeTarget:
        """Record the target and start it without waiting (see wait_for_completion)."""
        if not isinstance(config, ClusterConfig):
            raise ValidationError(f"config must be a ClusterConfig, got {type(config).__name__}.")
        if not name or not all(c.isalnum() or c in "-_" for c in name) or len(name) > 64:
            raise ValidationError(f"Compute target name {name!r} is invalid: use 1-64 letters, "
                                  "digits, '-' or '_'.")
        from cumulus.compute._base import backend_class

        backend_class(config.backend)  # a missing extra fails here, before anything is stored
        existing = workspace.store.get_compute(name)
        if existing is not None and not exist_ok:
            raise ValidationError(f"Compute target {name!r} exists already. Use "
                                  f"ComputeTarget(ws, {name!r}) or pass exist_ok=True.")
        workspace.store.put_compute(name, backend=config.backend, config=config.to_dict(),
                                    status="Creating", state={})
        target = cls(workspace, name)
        target.backend.start()
        return target

    @property
    def config(self) -> ClusterConfig:
        return ClusterConfig.from_dict(self._record["config"])

    @property
    def backend(self) -> ComputeBackend:
        from cumulus.compute._base import backend_class

        return backend_class(self.config.backend)(self.workspace, self.name, self.config)

    def refresh(self) -> ComputeTarget:
        record = self.workspace.store.get_compute(self.name)
        if record is None:
            raise ComputeTargetNotFoundError(self.name, [])
        self._record = record
        return self

    # scheduling --------------------------------------------------------------------------
    def resources_for(self, requested: dict[str, float] | None,
                      distribution: Any = None) -> dict[str, float]:
        """Dask resource restrictions for a run; refuses requests no node can ever satisfy."""
        req = {"cpus": 1.0, **{k: float(v) for k, v in (requested or {}).items()}}
        if "memory" in (requested or {}):
            from cumulus.compute._config import parse_memory

            req["memory"] = float(parse_memory((requested or {})["memory"]) or 0)
        node = self.config.node.worker_resources()
        for key, amount in req.items():
            have = node.get(key, 0 if key != "memory" else math.inf)
            if key == "memory" and "memory" not in node:
                continue
            if amount > have:
                raise ResourceUnavailableError(
                    f"The run asks for {key}={amount:g} but every node of compute target "
                    f"{self.name!r} has {key}={have:g}, so it could never start. Lower the "
                    f"request or update the target's NodeSpec.")
        if req.get("cpus", 0) > node.get("cpus", 1):
            req["cpus"] = node["cpus"]
        return {k: v for k, v in req.items() if v}

    def submit_run(self, run_id: str, ws_payload: dict[str, Any], resources: dict[str, float],
                   definition: dict[str, Any] | None = None) -> None:
        self.backend.submit(run_id, ws_payload, resources, definition or {})

    # lifecycle ---------------------------------------------------------------------------
    def get_status(self) -> dict[str, Any]:
        return self.backend.status()

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: float = 25) -> dict[str, Any]:
        """Wait until the target is up (and has ``min_node_count`` nodes, if given)."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        self.backend.start()
        last = None
        while True:
            status = self.get_status()
            line = (status["provisioning_state"], status["current_node_count"],
                    status["target_node_count"], status["allocation_state"])
            if show_output and line != last:
                sys.stdout.write(f"{self.name}: {line[0]}, nodes {line[1]} (target {line[2]}), "
                                 f"{line[3]}\n")
                sys.stdout.flush()
                last = line
            ready = status["provisioning_state"] == "Succeeded" and (
                min_node_count is None or status["current_node_count"] >= min_node_count)
            if ready:
                return status
            if status["provisioning_state"] == "Failed":
                raise ComputeError(f"Compute target {self.name!r} failed to start: "
                                   f"{status.get('errors')}")
            if time.monotonic() > deadline:
                raise ComputeError(f"Compute target {self.name!r} not ready after "
                                   f"{timeout_in_minutes} minutes: {status}")
            time.sleep(0.25)

    def update(self, min_nodes: int | None = None, max_nodes: int | None = None,
               idle_seconds_before_scaledown: float | None = None) -> ClusterConfig:
        """Change the scale settings; a running cluster applies them without a restart."""
        new = self.config.replace(min_nodes=min_nodes, max_nodes=max_nodes,
                                  idle_seconds_before_scaledown=idle_seconds_before_scaledown)
        self.workspace.store.put_compute(self.name, config=new.to_dict())
        self.refresh()
        return new

    def delete(self, force: bool = False) -> None:
        """Stop the cluster and forget the target; refused while runs are in flight."""
        active = self.workspace.store.active_runs_on(self.name)
        if active and not force:
            raise ComputeError(
                f"Compute target {self.name!r} has {len(active)} run(s) in flight "
                f"({', '.join(r['id'] for r in active[:3])}). Wait for them, cancel them, or "
                "pass force=True to cancel them and delete.")
        from cumulus.tasks.cancel import cancel_run

        for rec in active:
            cancel_run(self.workspace.store, rec["id"],
                       f"compute target {self.name!r} deleted with force=True")
        self.backend.stop()
        self.workspace.store.delete_compute(self.name)

    def task_runner(self) -> Any:
        """A prefect-dask DaskTaskRunner attached to this cluster by address."""
        from prefect_dask import DaskTaskRunner

        address = self.backend.ensure_running()
        return DaskTaskRunner(address=address)

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, backend={self.config.backend!r})"


def list_targets(ws: Workspace) -> dict[str, ComputeTarget]:
    names = {LOCAL, *(r["name"] for r in ws.store.list_compute())}
    return {n: ComputeTarget(ws, n) for n in sorted(names)}
