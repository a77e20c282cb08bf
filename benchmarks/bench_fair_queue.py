"""The fair-share queue: a sweep queues N trials of D seconds on a 2-node target, then 5
single runs (another experiment) are submitted; each single run's wait from submit to
Running is printed, and its wait from the moment the first node freed after its submit (a
trial ended) to its start. Goal (issue #18): under one trial's duration, i.e. it takes the
first node that frees, never waiting behind the sweep's queue. (When both nodes' trials have
just started at its submit, the wait from submit is one trial plus dispatch: no
non-preemptive queue does better.)

    .venv/bin/python benchmarks/bench_fair_queue.py [--trials 60] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.services import stop_services
    from cumulus.sweeps import GridSampling, Sweep, choice

    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.trials} trials of "
          f"{args.seconds:g} s on 2 nodes, then 5 single runs")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = Workspace.create("bench-fair", path=root / "ws",
                              local_compute={"min_nodes": 2, "max_nodes": 2})
        src_dir = root / "src"
        src_dir.mkdir()
        (src_dir / "work.py").write_text(f"import time\ntime.sleep({args.seconds})\n")
        src = ScriptRunConfig(source_directory=str(src_dir), script="work.py")
        try:
            ComputeTarget(ws, "local").wait_for_completion(min_node_count=2)
            srun = Experiment(ws, "sweep").submit(Sweep(
                src, GridSampling({"--i": choice(*range(args.trials))}), "m", "maximize",
                max_concurrent_runs=args.trials))
            while sum(1 for t in srun.get_children() if t.get_status() == "Queued") < 10:
                time.sleep(0.05)
            waits, after_free = [], []
            for _ in range(5):
                t0 = time.time()
                run = Experiment(ws, "colleague").submit(src)
                while run.get_status() in ("Queued", "Preparing", "NotStarted"):
                    time.sleep(0.01)
                waits.append(time.time() - t0)
                run.wait_for_completion()
                started = run.get_details()["startTimeUtc"]
                ends = [t["end_time"] for t in ws.store.children(srun.id) if t["end_time"]]
                freed = min((e for e in ends if _epoch(e) >= t0), default=None, key=_epoch)
                after_free.append(_epoch(started) - (_epoch(freed) if freed else t0))
            print("single runs' wait for a node: " + ", ".join(f"{w:.2f} s" for w in waits)
                  + f"; max {max(waits):.2f} s vs a trial's {args.seconds:g} s")
            print("from the first node freed after the submit to the run's start: "
                  + ", ".join(f"{w:.3f} s" for w in after_free)
                  + f"; max {max(after_free):.3f} s")
            srun.cancel()
        finally:
            stop_services(ws)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def _epoch(value: object) -> float:
    """Seconds since the epoch of a store time (a datetime, naive UTC on SQLite) or an ISO
    text (run details)."""
    from datetime import datetime, timezone

    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


if __name__ == "__main__":
    main()
