"""Distributed launch overhead and gloo allreduce throughput: Cumulus vs torchrun.

Both sides run the same script (examples-style: ``init_process_group("gloo")`` from the
environment, then ``--iters`` allreduces of a ``--mb`` MB float32 tensor) with 2 processes on
this machine:

- cumulus: ``exp.submit(ScriptRunConfig(distribution=PyTorchDistribution(node_count=2)))`` on a
  local target with 2 one-cpu nodes (2 Dask worker processes): two node tasks, rendezvous
  through the store, one process per node. The target is started and its 2 nodes are warm
  (a first run is submitted and discarded) before timing.
- torchrun: ``python -m torch.distributed.run --nnodes 1 --nproc_per_node 2``.

Reported: the in-script allreduce throughput (rank 0, after a warm-up) and the end-to-end wall
time (submit -> Completed, resp. torchrun start -> exit).

Run: .venv/bin/python benchmarks/bench_ddp.py [--mb 16] [--iters 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPT = """
import argparse, json, os, time
import torch
import torch.distributed as dist
p = argparse.ArgumentParser()
p.add_argument("--mb", type=float, default=16)
p.add_argument("--iters", type=int, default=30)
a = p.parse_args()
dist.init_process_group("gloo")
t = torch.ones(int(a.mb * 2**20 / 4))
for _ in range(3):
    dist.all_reduce(t)
dist.barrier()
start = time.perf_counter()
for _ in range(a.iters):
    dist.all_reduce(t)
dist.barrier()
secs = time.perf_counter() - start
mbps = a.mb * a.iters / secs
if dist.get_rank() == 0:
    if os.environ.get("CUMULUS_RUN_ID"):
        from cumulus import Run
        Run.get_context().log("allreduce_MBps", mbps)
    print("RESULT " + json.dumps({"MBps": mbps, "seconds": secs}), flush=True)
dist.barrier()   # every rank is done with gloo before any tears it down
dist.destroy_process_group()
"""


def run_torchrun(folder: Path, mb: float, iters: int) -> tuple[float, float]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
                          "--nproc_per_node", "2", "--standalone",
                          str(folder / "allreduce.py"), "--mb", str(mb), "--iters", str(iters)],
                         capture_output=True, text=True, check=True, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    wall = time.perf_counter() - start
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[7:])["MBps"], wall


def run_cumulus(exp: Any, folder: Path, mb: float, iters: int) -> tuple[float, float]:
    from cumulus import PyTorchDistribution, ScriptRunConfig

    start = time.perf_counter()
    run = exp.submit(ScriptRunConfig(
        source_directory=str(folder), script="allreduce.py",
        arguments=["--mb", str(mb), "--iters", str(iters)], compute_target="ddp",
        environment_variables={"OMP_NUM_THREADS": "1"},
        distribution=PyTorchDistribution(node_count=2)))
    run.wait_for_completion(timeout=600)
    wall = time.perf_counter() - start
    value = run.get_metrics()["allreduce_MBps"]
    return float(value[-1] if isinstance(value, list) else value), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=16)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from cumulus import Experiment, Workspace
    from cumulus.compute import ClusterConfig, ComputeTarget, NodeSpec

    root = Path(tempfile.mkdtemp(prefix="bench-ddp-"))
    folder = root / "src"
    folder.mkdir()
    (folder / "allreduce.py").write_text(SCRIPT)
    ws = Workspace.create("benchddp", path=root / "ws")
    target = ComputeTarget.create(ws, "ddp", ClusterConfig(
        backend="local", min_nodes=2, max_nodes=2, idle_seconds_before_scaledown=60,
        node=NodeSpec(cpus=1)))
    try:
        target.wait_for_completion(min_node_count=2, timeout_in_minutes=3)
        exp = Experiment(ws, "bench")
        run_cumulus(exp, folder, 1, 2)          # warm-up: imports, snapshot cache
        run_torchrun(folder, 1, 2)
        rows: dict[str, list[tuple[float, float]]] = {"cumulus": [], "torchrun": []}
        for _ in range(args.repeats):
            rows["torchrun"].append(run_torchrun(folder, args.mb, args.iters))
            rows["cumulus"].append(run_cumulus(exp, folder, args.mb, args.iters))
    finally:
        target.delete(force=True)
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
           for k, v in rows.items()}
    print(f"allreduce {args.mb:g} MB x {args.iters}, 2 processes, {args.repeats} repeats "
          "(medians)")
    for name, (mbps, wall) in med.items():
        print(f"  {name:9s} {mbps:8.1f} MB/s allreduce   end-to-end {wall:6.2f} s   "
              f"all: {[f'{m:.0f}' for m, _ in rows[name]]} MB/s, "
              f"{[f'{w:.2f}' for _, w in rows[name]]} s")
    print(f"  ratio cumulus/torchrun: throughput {med['cumulus'][0] / med['torchrun'][0]:.2f}, "
          f"end-to-end time {med['cumulus'][1] / med['torchrun'][1]:.2f}")


if __name__ == "__main__":
    main()
