"""The manager process of a managed compute target (run as ``python -m``).

One per target. It builds the Dask cluster for the target's backend (a ``LocalCluster`` for
``local``), installs the cumulus scheduler plugin and the :class:`RunAdaptive` policy, requeues
the target's unfinished runs if an earlier manager died, publishes the scheduler address, then
reports observed state to the store and applies ``update()`` until it is told to stop.

Usage (what ``LocalBackend`` runs)::

    python -m cumulus.compute._manager NAME WS_PAYLOAD_JSON
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from cumulus.compute._base import RUN_PREFIX

__all__ = ["RUN_PREFIX", "Manager", "main"]

REPORT_EVERY = 0.5
# imported once in the forkserver, so a new node starts with them loaded (import side-effect
# free modules only: the forkserver forks every node process from this state)
FORKSERVER_PRELOAD = ["distributed", "cumulus.tasks.executor", "cumulus.workspace"]
HEARTBEAT_EVERY = 2.0
QUOTA_EVERY = 2.0        # seconds between reads of the quotas (and other targets' use)
QUOTA_SHARED_EVERY = REPORT_EVERY    # ... while a workspace-wide quota is set
RECONCILE_EVERY = 10.0   # seconds between checks for active runs with no task on the cluster
#: a manager with no node, nothing queued or running and min_nodes 0 exits after this many
#: seconds (the next use starts it again, in about a second)
IDLE_EXIT = float(os.environ.get("CUMULUS_MANAGER_IDLE_EXIT", "1800"))
# a run whose status changed this recently may have a submission in flight: left alone
RECONCILE_GRACE = float(os.environ.get("CUMULUS_RECONCILE_GRACE", "30"))


def scale_settings(cfg: Any, quota: Any = None) -> Any:
    """The policy's knobs for ``cfg``, node bounds capped by the target's quota allowance."""
    from cumulus.compute._policy import ScaleSettings
    from cumulus.compute._quota import Allowance, capped_nodes

    low, high = capped_nodes(cfg.min_nodes, cfg.max_nodes, quota or Allowance())
    return ScaleSettings(min_nodes=low, max_nodes=high,
                         idle_seconds=float(cfg.idle_seconds_before_scaledown),
                         node=cfg.node.worker_resources())


def configure_dask(cfg: Any) -> None:
    """Dask settings of a managed cluster; must run before ``distributed`` is imported."""
    import dask

    dask.config.set({
        # a run whose node dies is started again up to max_attempts times in all
        "distributed.scheduler.allowed-failures": cfg.attempt_limit - 1,
        "distributed.worker.daemon": False,
        # forkserver: a new node process starts in ~0.1 s instead of ~0.5 s
        "distributed.worker.multiprocessing-method": "forkserver",
        "distributed.admin.tick.limit": "30s",
        # a node's run is a subprocess: Dask's statistical profiler would sample the executor
        # thread waiting on it every 10 ms, which costs CPU and shows nothing
        "distributed.worker.profile.enabled": False,
        # messages are small (a run's task, its status): see OWN_PROCESS_ENV
        "distributed.comm.offload": False,
    })
    # node processes come from a forkserver that imports distributed before a nanny hands
    # them this configuration, and Dask reads this one at import: the environment carries it
    from cumulus.compute._client import OWN_PROCESS_ENV

    os.environ.update(OWN_PROCESS_ENV)


def warm_forkserver() -> None:
    """Start the forkserver now, with distributed and the run executor preloaded."""
    import multiprocessing
    from multiprocessing import forkserver

    from distributed.utils import get_mp_context

    ctx = get_mp_context()
    if ctx.get_start_method() != "forkserver":
        return
    multiprocessing.get_context("forkserver").set_forkserver_preload(FORKSERVER_PRELOAD)
    forkserver.ensure_running()


def _observed(adaptive: Any) -> dict[str, Any]:
    from cumulus.compute._policy import allocation_state, node_state_counts

    if adaptive.last is None:
        return {}
    view, decision, extra = adaptive.last
    counts = node_state_counts(view)
    return {
        "current_node_count": len(view.nodes),
        "target_node_count": decision.target,
        "allocation_state": allocation_state(view, decision),
        "node_state_counts": counts,
        "queued_runs": len(view.pending) + int(extra.get("quota_held", 0)),
        "running_runs": int(extra.get("running_runs", 0)),
        "gpus_in_use": float(extra.get("gpus_in_use", 0.0)),
        "setup_failed": dict(extra.get("setup_failed") or {}),
    }


def _counts(observed: dict[str, Any] | None) -> tuple[Any, ...]:
    """What a node-count sample holds (a new sample only when one of these changes)."""
    o = observed or {}
    return (o.get("current_node_count"), o.get("target_node_count"), o.get("queued_runs"),
            o.get("running_runs"), o.get("node_state_counts"))


def _executable(rec: dict[str, Any]) -> bool:
    """A run ``execute_task`` runs: a script run (not a child run, controller or pipeline)."""
    definition = rec.get("definition") or {}
    return rec["status"] != "NotStarted" and definition.get("type") == "script" and \
        bool(definition.get("script") or definition.get("command"))


def _distributed(rec: dict[str, Any]) -> bool:
    dist = (rec.get("definition") or {}).get("distribution") or {}
    return int(dist.get("node_count") or dist.get("worker_count") or 1) > 1


def _timestamp(value: Any) -> float:
    if value is None:
        return 0.0
    if hasattr(value, "timestamp"):
        from datetime import timezone

        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return float(aware.timestamp())
    return float(value)


class Manager:
    """Owns one target's cluster for the life of this process."""

    def __init__(self, name: str, ws_payload: dict[str, Any]) -> None:
        from cumulus.workspace import Workspace

        self.name = name
        self.payload = ws_payload
        self.ws = Workspace.from_payload(ws_payload)
        self.store = self.ws.store
        self.stop = threading.Event()
        self.cluster: Any = None
        self.client: Any = None
        self.adaptive: Any = None
        self.quota: Any = None          # the Allowance pushed to the plugin last
        self.shared_quota = False       # whether a workspace-wide quota is set

    def config(self) -> Any:
        from cumulus.compute._config import ClusterConfig

        record = self.store.computes.get(self.name)
        if record is None:
            return None
        return ClusterConfig.from_dict(record["config"])

    def start(self, cfg: Any) -> None:
        from distributed import Client

        from cumulus.compute._adaptive import RunAdaptive
        from cumulus.compute._base import backend_class
        from cumulus.compute._plugin import CumulusPlugin

        warm_forkserver()
        self.cluster = backend_class(cfg.backend).make_cluster(cfg)  # type: ignore[attr-defined]
        self.client = Client(self.cluster, set_as_default=False)
        self.client.register_plugin(
            CumulusPlugin(idle_seconds=float(cfg.idle_seconds_before_scaledown),
                          node_setup=bool(cfg.node_setup)))
        self.apply_node_setup(cfg)
        # built directly, not through cluster.adapt(): any dask Cluster with scale() and
        # scale_down() works, including those whose adapt() hands scaling to someone else
        self.adaptive = RunAdaptive(self.cluster, settings=scale_settings(cfg),
                                    threads_per_node=cfg.node.cpus, interval="200ms")

    def apply_node_setup(self, cfg: Any) -> None:
        """(Re)install the node_setup worker plugin: each node, present or future, runs the
        command and reports; without a command new nodes are ready at once."""
        from cumulus.compute._setup import NodeSetup

        self.client.sync(self.client.scheduler.cumulus_node_setup_mode,
                         enabled=bool(cfg.node_setup))
        if cfg.node_setup:
            self.client.register_plugin(NodeSetup(cfg.node_setup, cfg.node_setup_timeout))

    def recover(self, cfg: Any) -> int:
        """Queue again the target's unfinished runs: an earlier manager died with them."""
        return self._requeue(self.store.active_runs_on(self.name), cfg,
                             "canceled while its manager was down")

    def reconcile(self, cfg: Any) -> int:
        """Queue again the active runs of this target that have no task on the cluster: their
        submitter died between recording and handing them over, or an attempt ended without
        recording an outcome. Runs changed in the last ``RECONCILE_GRACE`` s are left alone
        (a submission may be in flight)."""
        from cumulus.compute._base import run_key

        now = time.time()
        candidates = {run_key(r["id"]): r for r in self.store.active_runs_on(self.name)
                      if now - _timestamp(r.get("status_changed_at")) > RECONCILE_GRACE
                      and _executable(r) and not _distributed(r)}
        if not candidates:
            return 0
        known = set(self.client.sync(self.client.scheduler.cumulus_known,
                                     keys=list(candidates)) or ())
        orphans = [r for k, r in candidates.items() if k not in known]
        for rec in orphans:
            print(f"manager {self.name}: run {rec['id']} is {rec['status']} with no task on "
                  "the cluster; queuing it again", flush=True)
        return self._requeue(orphans, cfg, "canceled with no task on the cluster")

    def _requeue(self, records: list[dict[str, Any]], cfg: Any, canceled_reason: str) -> int:
        from cumulus.compute._launch import place, plan
        from cumulus.compute._resources import request_for
        from cumulus.specs import ScriptSpec
        from cumulus.store.status import RunStatus

        count = 0
        for rec in records:
            if rec["status"] == RunStatus.CANCEL_REQUESTED.value:
                self.store.try_transition(rec["id"], RunStatus.CANCELED, reason=canceled_reason)
                continue
            if not _executable(rec):
                continue        # not something execute_task runs (a child run, a controller)
            spec = ScriptSpec.from_definition(rec.get("definition") or {})
            tasks = plan(rec["id"], spec, request_for(spec.resources),
                         cfg.node.worker_resources(), cfg.attempt_limit)
            place(self.client, tasks, self.payload, self.ws.store_url)
            count += 1
        return count

    def publish(self) -> None:
        from cumulus._procs import ProcessRef

        tls = getattr(self.cluster, "_cumulus_tls", None)
        self.store.computes.merge_state(
            self.name, status="Running", address=self.cluster.scheduler_address,
            **ProcessRef.of(os.getpid()).to_dict(), host=socket.gethostname(), error=None,
            started_at=time.time(),
            heartbeat=time.time(), tls={"folder": tls.folder} if tls else None)
        self.store.computes.put(self.name, status="Succeeded")

    def loop(self, cfg: Any) -> None:
        last: dict[str, Any] = {}
        beat = reconciled = quota_checked = 0.0
        self.idle_since: float | None = None
        while not self.stop.wait(REPORT_EVERY):
            if not self.ws.root.exists():  # its workspace was deleted: nothing to serve
                print(f"manager {self.name}: workspace {self.ws.root} is gone; stopping",
                      flush=True)
                return
            try:
                record = self.store.computes.get(self.name)
                if record is None or (record.get("state") or {}).get("stop_requested"):
                    return
                cfg = self._apply(cfg, record)
                observed = _observed(self.adaptive)
                now = time.time()
                if observed != last or now - beat >= HEARTBEAT_EVERY:
                    self.store.computes.merge_state(self.name, heartbeat=now,
                                                   observed_at=now, **observed)
                    if observed and _counts(observed) != _counts(last):
                        self.store.computes.add_sample(self.name, observed, now)
                    last, beat = observed, now
                if now - quota_checked >= (QUOTA_SHARED_EVERY if self.shared_quota
                                           else QUOTA_EVERY):
                    quota_checked = now
                    self.refresh_quota(cfg, now)
                if now - reconciled >= RECONCILE_EVERY:
                    reconciled = now
                    self.reconcile(cfg)
                if self._idle_long_enough(cfg, observed, now):
                    print(f"manager {self.name}: no node and no work for {IDLE_EXIT:g} s; "
                          "stopping (the next use starts it again)", flush=True)
                    return
            except Exception as exc:  # a store hiccup must not take the cluster down
                print(f"manager {self.name}: report failed: {type(exc).__name__}: {exc}",
                      flush=True)

    def refresh_quota(self, cfg: Any, now: float) -> None:
        """Work out this target's quota allowance (its own quota, the workspace's less what
        the other live targets use) and push it to the plugin and the autoscaler."""
        from cumulus.compute._quota import (
            WORKSPACE,
            Allowance,
            Limits,
            Usage,
            allowance,
            live_usage,
        )

        quotas = self.store.quotas.all()
        if not quotas and self.quota is None:
            return
        shared = Limits.from_dict(quotas.get(WORKSPACE))
        self.shared_quota = not shared.empty
        others = Usage()
        if not shared.empty:
            usage = live_usage(self.store.computes.list(), now)
            others = sum((u for name, u in usage.items() if name != self.name), Usage())
        quota = allowance(Limits.from_dict(quotas.get(self.name)), shared, others)
        if quota == (self.quota or Allowance()):
            return
        self.quota = quota
        self.client.sync(self.client.scheduler.cumulus_quota, quota=quota.to_dict())
        self.adaptive.settings = scale_settings(cfg, quota)
        self.store.computes.merge_state(self.name, quota=quota.to_dict())

    def _idle_long_enough(self, cfg: Any, observed: dict[str, Any], now: float) -> bool:
        idle = (cfg.min_nodes == 0 and observed.get("current_node_count") == 0
                and not observed.get("queued_runs") and not observed.get("running_runs"))
        if not idle:
            self.idle_since = None
            return False
        if self.idle_since is None:
            self.idle_since = now
        if now - self.idle_since < IDLE_EXIT:
            return False
        if self.store.active_runs_on(self.name):   # recorded but not yet here: stay
            self.idle_since = now
            return False
        return True

    def _apply(self, cfg: Any, record: dict[str, Any]) -> Any:
        """Apply ``update()``: new scale settings take effect at the next interval."""
        from cumulus.compute._config import ClusterConfig

        new = ClusterConfig.from_dict(record["config"])
        if new != cfg:
            self.adaptive.settings = scale_settings(new, self.quota)
            if new.node_setup != cfg.node_setup:
                self.apply_node_setup(new)
        return new

    def close(self) -> None:
        for thing in (self.adaptive,):
            if thing is not None:
                thing.stop(reason="manager stopping")
        for thing in (self.client, self.cluster):
            if thing is not None:
                try:
                    thing.close(timeout=15)
                except Exception:
                    pass
        tls = getattr(self.cluster, "_cumulus_tls", None)
        if tls is not None:          # the key pair dies with the cluster
            from cumulus.compute._extras import ssh_cluster_kwargs

            cfg = self.config()
            kw = ssh_cluster_kwargs(cfg) if cfg is not None else {}
            tls.remove(kw.get("hosts") or [], kw.get("connect_options"))


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # the workspace payload (with the store URL and its password) comes on stdin, never in argv
    name = argv[0]
    payload = json.loads(argv[1] if len(argv) > 1 and argv[1] != "-" else sys.stdin.read())
    manager = Manager(name, payload)
    cfg = manager.config()
    if cfg is None:
        print(f"compute target {name!r} not found in the store", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: manager.stop.set())
    signal.signal(signal.SIGINT, lambda *_: manager.stop.set())
    configure_dask(cfg)
    try:
        manager.start(cfg)
        manager.refresh_quota(cfg, time.time())      # before any run can be placed
        recovered = manager.recover(cfg)
        manager.publish()
    except Exception as exc:  # report, so that clients do not wait in vain
        manager.store.computes.merge_state(name, status="Failed",
                                          error=f"{type(exc).__name__}: {exc}")
        manager.store.computes.put(name, status="Failed")
        manager.close()
        raise
    print(f"manager {name}: scheduler at {manager.cluster.scheduler_address}; "
          f"requeued {recovered} run(s)", flush=True)
    try:
        manager.loop(cfg)
    finally:
        if manager.ws.root.exists():   # a deleted workspace has no store to tell
            manager.store.computes.merge_state(name, status="Stopped", address=None,
                                              current_node_count=0, target_node_count=0,
                                              stopped_at=time.time())
        manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:3]))
