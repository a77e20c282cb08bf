"""Cost of a bursty workload: node-seconds used against the ideal packing.

Workload: 3 bursts of 8 runs of 5 s, bursts starting 20 s apart (``--gap-from end``: 20 s
of quiet after each burst has finished), on a ``local`` target with
max_nodes=4 and ``idle_seconds_before_scaledown`` = 5, from an empty cluster. Node-seconds
are integrated from the scheduler plugin's ``node-added`` / ``node-removed`` events until the
cluster is empty again. Beside it, the same workload on a fixed 4-node cluster (min = max = 4),
charged from the first submit to the last run's end.

Two ideals: *work* = the runs' measured busy time (Preparing -> Completed, i.e. perfect packing
with no idle node ever), and *work + idle rule* = work plus the ``idle_seconds`` each node must
wait before it may be released (4 nodes x 5 s per burst), which no policy obeying the rule
can avoid.

Run: ``python benchmarks/bench_compute_cost.py [--bursts 3] [--runs 8] [--seconds 5]
[--gap 20] [--gap-from start|end]``
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
    table,
    wait,
)


def workload(ws: Any, src: Any, target: Any, args: Any) -> tuple[float, float, list[Any]]:
    """Submit the bursts; returns (first submit time, last run end time, runs)."""
    runs: list[Any] = []
    t0 = time.time()
    for burst in range(args.bursts):
        if args.gap_from == "start":        # bursts start `gap` seconds apart
            wait(lambda b=burst: time.time() >= t0 + b * args.gap, poll=0.01)
        elif runs:                          # `gap` quiet seconds after a burst has finished
            wait(lambda rs=tuple(runs): all(r.get_status() == "Completed" for r in rs),
                 timeout=600)
            quiet = time.time()
            wait(lambda q=quiet: time.time() >= q + args.gap, poll=0.01)
        runs += submit(ws, sleep_run(src, target.name, args.seconds), args.runs)
    wait(lambda: all(r.get_status() == "Completed" for r in runs), timeout=600)
    end = max(ws.store.get_run(r.id)["end_time"].timestamp() for r in runs)
    return t0, end, runs


def busy_seconds(ws: Any, runs: list[Any]) -> float:
    total = 0.0
    for r in runs:
        ev = {e["to_status"]: e["time"].timestamp() for e in ws.store.status_events(r.id)}
        total += ev["Completed"] - ev["Preparing"]
    return total


def node_seconds(target: Any, t0: float) -> tuple[float, int]:
    ev = sorted(events(target, t0), key=lambda e: e["time"])
    up: dict[str, float] = {}
    total, count = 0.0, 0
    for e in ev:
        if e["action"] == "node-added":
            up[e["node"]] = e["time"]
            count += 1
        elif e["action"] == "node-removed" and e["node"] in up:
            total += e["time"] - up.pop(e["node"])
    return total + sum(time.time() - t for t in up.values()), count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bursts", type=int, default=3)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--gap", type=float, default=20.0)
    ap.add_argument("--gap-from", choices=("start", "end"), default="start",
                    help="20 s between burst starts, or 20 s of quiet after each burst")
    ap.add_argument("--idle", type=float, default=5.0)
    ap.add_argument("--max-nodes", type=int, default=4)
    args = ap.parse_args()
    rows = []
    with bench_workspace("cost") as (ws, src):
        auto = make_target(ws, "auto", min_nodes=0, max_nodes=args.max_nodes,
                           idle_seconds_before_scaledown=args.idle)
        t0, end, runs = workload(ws, src, auto, args)
        wait(lambda: nodes_now(auto) == 0, timeout=120)
        used, launched = node_seconds(auto, t0)
        work = busy_seconds(ws, runs)
        auto.delete()
        fixed = make_target(ws, "fixed", min_nodes=args.max_nodes, max_nodes=args.max_nodes,
                            idle_seconds_before_scaledown=args.idle)
        f0, fend, fruns = workload(ws, src, fixed, args)
        fixed_used = args.max_nodes * (fend - f0)
        fwork = busy_seconds(ws, fruns)
    nominal = args.bursts * args.runs * args.seconds
    idle_rule = args.bursts * min(args.runs, args.max_nodes) * args.idle
    rows.append(["autoscaled 0..4, idle 5 s", f"{used:.1f}", f"{work:.1f}",
                 f"{used / work:.2f}x", f"{used / (work + idle_rule):.2f}x", launched,
                 f"{end - t0:.1f}"])
    rows.append(["fixed 4 nodes", f"{fixed_used:.1f}", f"{fwork:.1f}",
                 f"{fixed_used / fwork:.2f}x", f"{fixed_used / (fwork + idle_rule):.2f}x",
                 args.max_nodes, f"{fend - f0:.1f}"])
    print(f"bursts {args.gap:g} s apart, measured from each burst's "
          f"{'start' if args.gap_from == 'start' else 'end'}")
    print(table(["cluster", "node-s used", "work node-s", "vs work", "vs work + idle rule",
                 "nodes started", "makespan s"], rows))
    print(f"\nnominal work {nominal:.0f} node-s ({args.bursts} x {args.runs} runs x "
          f"{args.seconds:g} s); idle rule adds {idle_rule:.0f} node-s; autoscaled uses "
          f"{used / fixed_used:.2f}x the node-seconds of the fixed cluster")


if __name__ == "__main__":
    main()
