"""Scale-up latency of the ``local`` backend: 0 -> 1 node and 0 -> 4 nodes.

Each trial starts from an empty cluster (min_nodes=0), submits 1 or 4 runs with
``Experiment.submit`` and records, from the scheduler plugin's events: when the run task
reached the scheduler, when the first and the last needed node joined, and when the first run
started (``Preparing`` in the store). The clock starts when ``submit`` is called. Beside it:
raw Dask (``LocalCluster`` + ``adapt()``, default settings but a 200 ms interval) scaling from
0 for one ``client.submit``. Goal: first node within 2 s of the submit.

Run: ``python benchmarks/bench_compute_scaleup.py [--trials 5]``
"""

from __future__ import annotations

import argparse
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


def trial(ws: Any, src: Any, target: Any, n: int) -> dict[str, float]:
    wait(lambda: nodes_now(target) == 0)
    t0 = time.time()
    runs = submit(ws, sleep_run(src, target.name, 1.0), n)
    t_sub = time.time()
    wait(lambda: len([e for e in events(target, t0) if e["action"] == "node-added"]) >= n)
    ev = events(target, t0)
    added = sorted(e["time"] for e in ev if e["action"] == "node-added")
    queued = min(e["time"] for e in ev if e["action"] == "run-queued")
    wait(lambda: all(r.get_status() == "Completed" for r in runs))
    first_start = min(next(e["time"].timestamp() for e in ws.store.status_events(r.id)
                           if e["to_status"] == "Preparing") for r in runs)
    return {"submit_call": t_sub - t0, "first_node": added[0] - t0,
            "last_node": added[n - 1] - t0, "queued_to_first": added[0] - queued,
            "first_run_start": first_start - t0}


def raw_dask(trials: int) -> list[float]:
    """Raw Dask adaptive scale-up from 0 workers for one task, for comparison."""
    from distributed import Client, LocalCluster

    out = []
    with LocalCluster(n_workers=0, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        cluster.adapt(minimum=0, maximum=4, interval="200ms", wait_count=1)
        for _ in range(trials):
            wait(lambda: not client.scheduler_info()["workers"])
            t0 = time.time()
            fut = client.submit(time.sleep, 0.5, pure=False)
            wait(lambda: client.scheduler_info()["workers"], poll=0.01)
            out.append(time.time() - t0)
            fut.result()
            del fut
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5)
    args = ap.parse_args()
    results: dict[int, list[dict[str, float]]] = {1: [], 4: []}
    with bench_workspace("scaleup") as (ws, src):
        target = make_target(ws, "up", min_nodes=0, max_nodes=4,
                             idle_seconds_before_scaledown=0.5)
        submit(ws, sleep_run(src, "up", 0.1), 1)[0].wait_for_completion()   # warm-up
        for _ in range(args.trials):          # interleaved, so load spikes hit both cases
            for n in (1, 4):
                results[n].append(trial(ws, src, target, n))
    raw = raw_dask(args.trials)
    rows = []
    for n, trials in results.items():
        for key, label in (("submit_call", "submit() call returns"),
                           ("first_node", "first node joined"),
                           ("last_node", f"node {n} of {n} joined"),
                           ("queued_to_first", "task on scheduler -> first node"),
                           ("first_run_start", "first run Preparing")):
            if n == 1 and key == "last_node":
                continue
            rows.append([f"0 -> {n}", label, summary([t[key] for t in trials])])
    rows.append(["0 -> 1", "raw Dask adapt(): worker joined", summary(raw)])
    print(table(["case", "seconds after submit", "distribution"], rows))
    first = sorted(t["first_node"] for t in results[1] + results[4])
    goal = sum(1 for x in first if x <= 2.0)
    print(f"\nfirst node within 2 s of the submit: {goal}/{len(first)} trials; median "
          f"{first[len(first) // 2]:.2f} s; ratio to raw Dask median "
          f"{first[len(first) // 2] / sorted(raw)[len(raw) // 2]:.2f}x")


if __name__ == "__main__":
    main()
