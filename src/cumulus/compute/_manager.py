"""The manager process of a ``local`` compute target (run as ``python -m``).

It owns the Dask scheduler and worker processes, applies the autoscaling policy, reports
observed state to the store every second, and applies ``update()`` without a restart.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import threading
import time
from typing import Any

RUN_PREFIX = "cumulus-run-"
ACTIVE_STATES = ("processing", "no-worker", "queued", "waiting", "released")


def run_counts(scheduler: Any) -> tuple[int, int]:
    """(active runs, queued runs) among the scheduler's tasks."""
    active = queued = 0
    for key, ts in list(scheduler.tasks.items()):
        if isinstance(key, str) and key.startswith(RUN_PREFIX) and ts.state in ACTIVE_STATES:
            active += 1
            if ts.state != "processing" or not ts.processing_on or \
                    ts not in getattr(ts.processing_on, "executing", ()):
                queued += 1 if ts.state != "processing" else 0
    return active, queued


def make_adaptive_class() -> type:
    from distributed.deploy.adaptive import Adaptive

    class RunAdaptive(Adaptive):  # type: ignore[misc]
        """Scale to the number of queued and running runs, one slot per node cpu."""

        slots_per_node = 1

        async def target(self) -> int:
            active, _ = run_counts(self.cluster.scheduler)
            return math.ceil(active / max(1, self.slots_per_node))

    return RunAdaptive


def _observe(cluster: Any, adaptive: Any) -> dict[str, Any]:
    sched = cluster.scheduler
    workers = list(sched.workers.values())
    busy = sum(1 for w in workers if w.processing)
    planned = len(cluster.worker_spec)
    active, queued = run_counts(sched)
    current = len(workers)
    target = max(adaptive.minimum, min(adaptive.maximum, math.ceil(
        active / max(1, adaptive.slots_per_node)))) if adaptive else planned
    return {
        "current_node_count": current,
        "target_node_count": target,
        "allocation_state": "Steady" if current == target else "Resizing",
        "nodes": {"idle": current - busy, "running": busy,
                  "preparing": max(0, planned - current), "leaving": max(0, current - planned),
                  "unusable": 0},
        "queued_runs": queued,
        "active_runs": active,
        "heartbeat": time.time(),
    }


def main(root: str, name: str, store_url: str) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    from cumulus.compute._config import ClusterConfig
    from cumulus.store import Store

    store = Store(store_url)
    record = store.get_compute(name)
    if record is None:
        print(f"compute target {name!r} not found in {store_url}", file=sys.stderr)
        return 2
    cfg = ClusterConfig.from_dict(record["config"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        cluster, adaptive = _start_cluster(cfg)
    except Exception as exc:  # report, do not hang clients
        store.merge_compute_state(name, status="Failed", error=f"{type(exc).__name__}: {exc}")
        raise
    store.merge_compute_state(name, status="Running", address=cluster.scheduler_address,
                              pid=os.getpid(), error=None, started_at=time.time(),
                              **_observe(cluster, adaptive))
    print(f"manager {name}: scheduler at {cluster.scheduler_address}", flush=True)
    try:
        _loop(store, name, cfg, cluster, adaptive, stop)
    finally:
        store.merge_compute_state(name, status="Stopped", address=None,
                                  current_node_count=0, target_node_count=0)
        try:
            cluster.close(timeout=15)
        except Exception:
            pass
    return 0


def _start_cluster(cfg: Any) -> tuple[Any, Any]:
    import dask
    from distributed import LocalCluster

    dask.config.set({
        "distributed.scheduler.allowed-failures": max(0, cfg.max_attempts - 1),
        "distributed.worker.daemon": False,
        "distributed.scheduler.worker-saturation": "inf",
    })
    cluster = LocalCluster(
        n_workers=cfg.min_nodes, threads_per_worker=cfg.node.cpus, processes=True,
        memory_limit=cfg.node.memory_bytes or 0, resources=cfg.node.worker_resources(),
        scheduler_port=0, dashboard_address=None, silence_logs=logging.ERROR,
        host="127.0.0.1")
    adaptive = cluster.adapt(Adaptive=make_adaptive_class(), minimum=cfg.min_nodes,
                             maximum=cfg.max_nodes, interval="200ms",
                             wait_count=_wait_count(cfg.idle_seconds_before_scaledown))
    adaptive.slots_per_node = cfg.node.cpus
    return cluster, adaptive


def _wait_count(idle_seconds: float) -> int:
    return max(1, math.ceil(idle_seconds / 0.2))


def _loop(store: Any, name: str, cfg: Any, cluster: Any, adaptive: Any,
          stop: threading.Event) -> None:
    from cumulus.compute._config import ClusterConfig

    while not stop.wait(0.5):
        record = store.get_compute(name)
        if record is None or (record.get("state") or {}).get("stop_requested"):
            return
        new = ClusterConfig.from_dict(record["config"])
        if new != cfg:
            adaptive.minimum, adaptive.maximum = new.min_nodes, new.max_nodes
            adaptive.wait_count = _wait_count(new.idle_seconds_before_scaledown)
            cfg = new
        try:
            store.merge_compute_state(name, **_observe(cluster, adaptive))
        except Exception as exc:  # keep managing even if one report fails
            print(f"manager {name}: state report failed: {exc}", flush=True)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
