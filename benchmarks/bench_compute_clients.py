"""Many clients: 4 processes submitting 50 runs each to one ``local`` target.

Each client process opens the workspace, submits its runs with ``Experiment.submit`` as fast
as it can and exits. Every run appends its run id to a shared ledger (O_APPEND). Checked: all
200 complete, none lost (every submitted id is in the ledger), none run twice (each id
appears once in the ledger, started once, attempt 1). Reported: submit rate per client and in
total, time until the last run completed, and runs per second through the cluster.

Run: ``python benchmarks/bench_compute_clients.py [--clients 4] [--runs 50] [--max-nodes 4]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench_compute_common import bench_workspace, make_target, table, wait

SRC = str(Path(__file__).resolve().parents[1] / "src")
CLIENT = """
import sys, time
from cumulus import Experiment, ScriptRunConfig, Workspace
root, src, ledger, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ws = Workspace.from_config(root)
exp = Experiment(ws, "many")
cfg = ScriptRunConfig(source_directory=src, script="ledger.py", arguments=[ledger],
                      compute_target="shared")
t0 = time.time()
ids = [exp.submit(cfg).id for _ in range(n)]
print(time.time() - t0, *ids, flush=True)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--max-nodes", type=int, default=4)
    args = ap.parse_args()
    with bench_workspace("clients") as (ws, src):
        make_target(ws, "shared", min_nodes=0, max_nodes=args.max_nodes,
                    idle_seconds_before_scaledown=5)
        ledger = Path(ws.root) / "ledger"
        env = {**os.environ, "PYTHONPATH": SRC}
        t0 = time.time()
        procs = [subprocess.Popen([sys.executable, "-c", CLIENT, str(ws.root), str(src),
                                   str(ledger), str(args.runs)], env=env, text=True,
                                  stdout=subprocess.PIPE) for _ in range(args.clients)]
        outs = [p.communicate(timeout=900)[0].split() for p in procs]
        submitted_all = time.time() - t0
        rates = [args.runs / float(o[0]) for o in outs]
        ids = [i for o in outs for i in o[1:]]
        store = ws.store
        wait(lambda: set(store.get_statuses(ids).values()) <= {"Completed", "Failed",
                                                               "Canceled"}, timeout=1800,
             poll=0.5)
        done = time.time() - t0
        statuses = Counter(store.get_statuses(ids).values())
        ledger_ids = Counter(ledger.read_text().split())
        starts = [sum(1 for e in store.status_events(i) if e["to_status"] == "Preparing")
                  for i in ids]
        attempts = Counter(store.get_run(i)["attempt"] for i in ids)
    total = args.clients * args.runs
    rows = [["runs submitted", len(set(ids)), total],
            ["runs Completed", statuses.get("Completed", 0), total],
            ["lost (never ran)", sum(1 for i in ids if i not in ledger_ids), 0],
            ["ran twice (ledger)", sum(1 for c in ledger_ids.values() if c > 1), 0],
            ["started more than once", sum(1 for s in starts if s != 1), 0],
            ["attempt != 1", total - attempts.get(1, 0), 0]]
    print(table(["check", "got", "expected"], rows))
    print()
    print(table(["measure", "value"], [
        ["submit rate per client (runs/s)", " ".join(f"{r:.1f}" for r in rates)],
        ["all clients done submitting (s)", f"{submitted_all:.1f}"],
        ["aggregate submit rate (runs/s)", f"{total / submitted_all:.1f}"],
        ["last run completed after (s)", f"{done:.1f}"],
        ["throughput (runs/s)", f"{total / done:.2f}"]]))


if __name__ == "__main__":
    main()
