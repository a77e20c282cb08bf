"""ComputeTarget: a named cluster whose definition and state live in the store.

Any process (a notebook, the CLI, a pipeline) sees the same target and submits to it.

Example::

    cfg = ClusterConfig(backend="local", min_nodes=0, max_nodes=4,
                        idle_seconds_before_scaledown=120, node=NodeSpec(cpus=1))
    target = ComputeTarget.create(ws, "cpu-cluster", cfg)      # returns at once
    target.wait_for_completion(show_output=True)
    print(target.get_status().current_node_count)
    target.update(max_nodes=8)
    target.delete()
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from cumulus.compute._config import ClusterConfig, NodeSpec
from cumulus.errors import (
    ComputeError,
    ComputeTargetNotFoundError,
    ConfigError,
    ValidationError,
)

if TYPE_CHECKING:
    from cumulus.compute._base import ComputeBackend
    from cumulus.compute._status import ClusterStatus
    from cumulus.workspace import Workspace

LOCAL = "local"
DELETE_WAIT = 60.0


def default_local_config(ws: Workspace) -> ClusterConfig:
    """The built-in ``local`` target, from ``local_compute`` in cumulus.yaml."""
    spec = ws.config.local_compute
    max_nodes = spec.max_nodes or max(1, (os.cpu_count() or 1) // spec.cpus_per_node)
    return ClusterConfig(backend="local", min_nodes=min(spec.min_nodes, max_nodes),
                         max_nodes=max_nodes,
                         idle_seconds_before_scaledown=spec.idle_seconds_before_scaledown,
                         node=NodeSpec(cpus=spec.cpus_per_node))


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name or len(name) > 64 or \
            not all(c.isalnum() or c in "-_" for c in name):
        raise ValidationError(f"Compute target name {name!r} is invalid: use 1-64 letters, "
                              "digits, '-' or '_'.")


class ComputeTarget:
    """A named compute target; ``ComputeTarget(ws, name)`` opens an existing one.

    Example::

        target = ComputeTarget(ws, "cpu-cluster")   # or ComputeTargetNotFoundError
        target.get_status().allocation_state        # 'Steady' / 'Resizing'
    """

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name
        record = workspace.store.computes.get(name)
        if record is None and name == LOCAL:
            record = _create_local(workspace)
        if record is None:
            known = sorted({LOCAL, *(r["name"] for r in workspace.store.computes.list())})
            raise ComputeTargetNotFoundError(
                name, known, hint="Create it with ComputeTarget.create(ws, name, config) or "
                                  "`cumulus compute create`.")
        self._record = record
        self._backend: ComputeBackend | None = None

    # definition --------------------------------------------------------------------------
    @classmethod
    def create(cls, workspace: Workspace, name: str, config: ClusterConfig, *,
               exist_ok: bool = False) -> ComputeTarget:
        """Record the target and start provisioning without waiting.

        With ``exist_ok=True`` an existing target of that name is returned unchanged.
        """
        if not isinstance(config, ClusterConfig):
            raise ValidationError(f"config must be a ClusterConfig, got {type(config).__name__}."
                                  " Build one with ClusterConfig(backend='local', ...).")
        _check_name(name)
        from cumulus.compute._base import require_extra

        require_extra(config.backend)   # a missing extra fails here, before anything is stored
        if workspace.store.computes.get(name) is not None:
            if exist_ok:
                return cls(workspace, name)
            raise ValidationError(f"Compute target {name!r} exists already. Open it with "
                                  f"ComputeTarget(ws, {name!r}), pass exist_ok=True, or "
                                  "delete it first.")
        from cumulus.compute._base import backend_class

        backend_class(config.backend).preflight(config)   # unreachable hosts fail here
        workspace.store.computes.put(name, backend=config.backend, config=config.to_dict(),
                                    status="Creating", state={})
        target = cls(workspace, name)
        target.backend.start()
        return target

    @property
    def config(self) -> ClusterConfig:
        parsed = self.__dict__.get("_config")
        if parsed is None or parsed[0] is not self._record:   # parsed once per record read
            parsed = (self._record, ClusterConfig.from_dict(self._record["config"]))
            self.__dict__["_config"] = parsed
        return parsed[1]

    @property
    def backend(self) -> ComputeBackend:
        cfg = self.config
        if self._backend is None or self._backend.config != cfg:
            from cumulus.compute._base import backend_class

            self._backend = backend_class(cfg.backend)(self.workspace, self.name, cfg)
        return self._backend

    def refresh(self) -> ComputeTarget:
        record = self.workspace.store.computes.get(self.name)
        if record is None:
            raise ComputeTargetNotFoundError(self.name, hint="It was deleted.")
        self._record = record
        return self

    # scheduling --------------------------------------------------------------------------
    def resources_for(self, requested: dict[str, Any] | None,
                      distribution: Any = None) -> dict[str, float]:
        """A run's request in node units; refuses one that no node can ever satisfy.

        Raises ResourceUnavailableError naming the resource, the amount asked and what a
        node has, before anything is scheduled.
        """
        from cumulus.compute._quotas import check_run_quota
        from cumulus.compute._resources import node_count_of, request_for

        request = request_for(requested)
        self.backend.check_request(request, distribution)
        check_run_quota(self.workspace, self.name, request, node_count_of(distribution))
        return request

    def submit_run(self, run_id: str, ws_payload: dict[str, Any], resources: dict[str, float],
                   definition: dict[str, Any] | None = None) -> None:
        """Queue a recorded run on this target (see tasks/submit.py)."""
        self.backend.submit(run_id, ws_payload, resources, definition or {})

    # lifecycle ---------------------------------------------------------------------------
    def get_status(self) -> ClusterStatus:
        """Node counts, allocation state, queued runs and scale settings, from any process."""
        self.refresh()
        return self.backend.status()

    def get_queue(self) -> list[dict[str, Any]]:
        """The runs waiting for a node, in the order they will start (fair share), each with
        its position, how long it has waited and why it waits."""
        from cumulus.compute._policy import explain_queue

        client_of = getattr(self.backend, "client", None)
        if client_of is None:
            return []
        client = client_of()
        queue = client.sync(client.scheduler.cumulus_queue) or []
        status = self.get_status()
        managed = self.backend.manages_scaling
        return explain_queue(queue, self.backend.node_resources() if managed else None,
                             self.config.max_nodes if managed else None,
                             int(status.current_node_count))

    def get_history(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Node counts over time (kept a week), oldest first: one sample each time the
        counts changed, with ``time`` (epoch seconds), ``nodes``, ``target_nodes``,
        ``queued_runs``, ``running_runs`` and ``node_states`` (idle/running/... counts)."""
        return self.workspace.store.computes.samples(self.name, since=since)

    def list_nodes(self) -> list[dict[str, Any]]:
        """The target's nodes now: name, Dask address, host, pid, working directory and the
        runs executing there (an empty list when it has none, or is not running)."""
        from cumulus.compute._nodes import list_nodes

        return list_nodes(self.backend)

    def wait_for_completion(self, show_output: bool = False, min_node_count: int | None = None,
                            timeout_in_minutes: float = 25) -> ClusterStatus:
        """Wait until the target is up with ``min_node_count`` nodes (default: its
        ``min_nodes``, as the managed service's ``wait_for_completion`` does).

        With ``show_output`` a line is printed whenever the node counts change.
        """
        if min_node_count is None:
            min_node_count = self.config.min_nodes or None
        deadline = time.monotonic() + timeout_in_minutes * 60
        last = None
        while True:
            status = self.get_status()
            if status.provisioning_state != "Succeeded":
                self.backend.ensure_running()   # starts or restarts it; raises if it cannot
                status = self.get_status()
            if show_output and status.summary() != last:
                last = status.summary()
                sys.stdout.write(last + "\n")
                sys.stdout.flush()
            if status.provisioning_state == "Succeeded" and (
                    min_node_count is None or status.current_node_count >= min_node_count):
                return status
            if time.monotonic() > deadline:
                raise ComputeError(f"Compute target {self.name!r} not ready after "
                                   f"{timeout_in_minutes} minutes: {status.summary()}")
            time.sleep(0.25)

    def update(self, min_nodes: int | None = None, max_nodes: int | None = None,
               idle_seconds_before_scaledown: float | None = None,
               node_setup: str | None = None) -> ClusterConfig:
        """Change the scale settings or the node setup (None keeps a value); a running
        cluster applies them within a second, without a restart (every node runs a new
        ``node_setup``; ``""`` removes it)."""
        if not self.backend.manages_scaling:
            raise ValidationError(
                f"Compute target {self.name!r} attaches to a scheduler whose scaling someone "
                "else owns (backend 'address'); change the scaling there.")
        self.refresh()
        new = self.config.replace(min_nodes=min_nodes, max_nodes=max_nodes,
                                  idle_seconds_before_scaledown=idle_seconds_before_scaledown)
        if node_setup is not None:
            new = ClusterConfig.from_dict({**new.to_dict(), "node_setup": node_setup or None})
        self.workspace.store.computes.put(self.name, config=new.to_dict())
        self.refresh()
        return new

    def delete(self, force: bool = False) -> None:
        """Stop the cluster and forget the target.

        Refused while runs are in flight, unless ``force=True``: then they are canceled
        (recorded with the reason), the cluster stops, and the target is removed.
        """
        from cumulus.tasks.cancel import cancel_run

        store = self.workspace.store
        active = store.active_runs_on(self.name)
        if active and not force:
            ids = ", ".join(r["id"] for r in active[:3]) + (" ..." if len(active) > 3 else "")
            raise ComputeError(
                f"Compute target {self.name!r} has {len(active)} run(s) in flight ({ids}). "
                "Wait for them, cancel them, or pass force=True to cancel them and delete.")
        reason = f"compute target {self.name!r} deleted with force=True"
        for rec in active:
            cancel_run(store, rec["id"], reason)
        if active:
            self._wait_canceled([r["id"] for r in active], reason)
        store.computes.put(self.name, status="Deleting")
        self.backend.stop()
        store.computes.delete(self.name)

    def _wait_canceled(self, run_ids: list[str], reason: str) -> None:
        """Give executors time to stop their scripts; then close the stragglers."""
        store = self.workspace.store
        terminal = ("Completed", "Failed", "Canceled")
        alive = getattr(self.backend, "alive", lambda: True)()
        deadline = time.monotonic() + (DELETE_WAIT if alive else 0)
        while True:
            statuses = store.get_statuses(run_ids)
            left = [r for r, s in statuses.items() if s not in terminal]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for run_id in left:
            store.try_transition(run_id, "Canceled",
                                 reason=f"{reason}; the run did not stop in time")

    def task_runner(self) -> Any:
        """A prefect-dask ``DaskTaskRunner`` attached to this cluster by address.

        Prefect tasks then run in the cluster's worker processes and report to the
        workspace's Prefect API from there (``prefect_api_url``, else ``PREFECT_API_URL``,
        else the workspace's own server, started if needed). Ephemeral mode is refused: every
        worker would start a temporary server of its own.

        Example::

            @flow(task_runner=ComputeTarget(ws, "cpu-cluster").task_runner())
            def etl(): ...
        """
        from cumulus.flows._prefect import resolve_api
        from cumulus.flows._server import wait_healthy

        api = resolve_api(self.workspace, start=True)
        if not api:
            raise ConfigError(
                "task_runner() runs Prefect tasks in the cluster's worker processes, which "
                "must report to a Prefect server, but this workspace selects Prefect's "
                "ephemeral mode (prefect_api_url: ephemeral). Remove that setting to use the "
                "workspace's own server, or point prefect_api_url at one.")
        wait_healthy(api)
        if "prefect" not in sys.modules:
            os.environ.setdefault("PREFECT_API_URL", api)    # read when prefect is imported
        address = self.backend.ensure_running()
        from prefect.settings import PREFECT_API_URL
        from prefect_dask import DaskTaskRunner

        if not PREFECT_API_URL.value():
            raise ConfigError(
                f"This process imported Prefect in ephemeral mode, so tasks on the cluster "
                f"would each start a temporary server. Set PREFECT_API_URL={api} before "
                "importing prefect (or call task_runner() first).")
        from cumulus.compute._tls import security_from_state

        state = (self.workspace.store.computes.get(self.name) or {}).get("state") or {}
        if address.startswith("tls://"):
            return DaskTaskRunner(address=address,
                                  client_kwargs={"security": security_from_state(state)})
        return DaskTaskRunner(address=address)

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, backend={self.config.backend!r})"


def _create_local(ws: Workspace) -> dict[str, Any] | None:
    from sqlalchemy.exc import IntegrityError

    try:
        ws.store.computes.put(LOCAL, backend="local", config=default_local_config(ws).to_dict(),
                             status="Succeeded", state={})
    except IntegrityError:
        pass        # another process created it at the same moment
    return ws.store.computes.get(LOCAL)


def list_targets(ws: Workspace) -> dict[str, ComputeTarget]:
    """Every compute target of the workspace by name (``local`` always included)."""
    names = {LOCAL, *(r["name"] for r in ws.store.computes.list())}
    out: dict[str, ComputeTarget] = {}
    for name in sorted(names):
        try:
            out[name] = ComputeTarget(ws, name)
        except ComputeTargetNotFoundError:
            continue        # deleted meanwhile
    return out
