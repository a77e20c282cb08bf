"""Idle scale-down accuracy of the ``local`` backend.

Each trial runs two short runs on an empty cluster (min_nodes=0, max_nodes=2,
``idle_seconds_before_scaledown`` = 5 by default), so two nodes come up, finish and go idle.
For every node it reports, from the scheduler plugin's events, how long after it became idle
(``node-idle``) it was (a) chosen for release (``node-release``) and (b) gone from the
scheduler (``node-removed``). Goal: released within ``idle_seconds`` +/- 1 s; never earlier.
Beside it: raw Dask ``adapt(wait_count=N)`` with the same idle target, which counts
consecutive proposals instead of idle time.

Run: ``python benchmarks/bench_compute_scaledown.py [--trials 10] [--idle 5]``
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

from bench_compute_common import (
    bench_workspace,
    events,
    make_target,
    nodes_now,
    sleep_run,
    submit,
    summary,
    table,
    wait,
)


def trial(ws: Any, src: Any, target: Any) -> list[tuple[float, float]]:
    wait(lambda: nodes_now(target) == 0)
    t0 = time.time()
    runs = submit(ws, sleep_run(src, target.name, 0.5), 2)
    wait(lambda: all(r.get_status() == "Completed" for r in runs))
    wait(lambda: nodes_now(target) == 0, timeout=120)
    ev = events(target, t0)
    out = []
    for node in {e["node"] for e in ev if e["action"] == "node-added"}:
        mine = [e for e in ev if e.get("node") == node]
        # idle since its last run ended, or since it joined if it never ran one (the other
        # node took both runs: a node is idle from the start, with no node-idle event)
        idle = max(e["time"] for e in mine if e["action"] in ("node-idle", "node-added"))
        chosen = next(e["time"] for e in mine if e["action"] == "node-release")
        gone = next(e["time"] for e in mine if e["action"] == "node-removed")
        out.append((chosen - idle, gone - idle))
    return out


def raw_dask(trials: int, idle: float) -> list[float]:
    """Raw Dask: idle time before removal with wait_count = idle / interval."""
    from distributed import Client, LocalCluster

    interval = 0.2
    out = []
    with LocalCluster(n_workers=0, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        cluster.adapt(minimum=0, maximum=1, interval=f"{interval}s",
                      wait_count=math.ceil(idle / interval))
        for _ in range(trials):
            wait(lambda: not client.scheduler_info()["workers"], timeout=120)
            fut = client.submit(time.sleep, 0.5, pure=False)
            fut.result()
            done = time.time()
            del fut
            wait(lambda: not client.scheduler_info()["workers"], poll=0.01, timeout=120)
            out.append(time.time() - done)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--idle", type=float, default=5.0)
    args = ap.parse_args()
    chosen: list[float] = []
    gone: list[float] = []
    with bench_workspace("scaledown") as (ws, src):
        target = make_target(ws, "down", min_nodes=0, max_nodes=2,
                             idle_seconds_before_scaledown=args.idle)
        for i in range(args.trials):
            for c, g in trial(ws, src, target):
                chosen.append(c)
                gone.append(g)
            print(f"trial {i + 1}: {[round(x, 2) for x in gone[-2:]]}", flush=True)
    raw = raw_dask(min(args.trials, 5), args.idle)
    rows = [["cumulus: idle -> chosen for release", summary(chosen)],
            ["cumulus: idle -> gone from the scheduler", summary(gone)],
            ["raw Dask adapt(wait_count): done -> gone", summary(raw)]]
    print(table([f"idle_seconds_before_scaledown = {args.idle:g}", "seconds"], rows))
    within = sum(1 for g in gone if abs(g - args.idle) <= 1.0)
    early = sum(1 for c in chosen if c < args.idle - 1e-3)
    print(f"\nreleased within {args.idle:g} +/- 1 s: {within}/{len(gone)} nodes; released "
          f"early: {early}; mean error {sum(g - args.idle for g in gone) / len(gone):+.2f} s")


if __name__ == "__main__":
    main()
