"""Sweep overhead: a Cumulus sweep against a raw Optuna ask/tell loop on raw Dask.

Both sides run the same 10 ms objective *script* as a subprocess on the same 2-node (2 worker
processes, 1 thread each) local Dask cluster, with the same number of trials in flight and the
same sampler settings:

- cumulus: ``exp.submit(Sweep(...))``: a detached controller process asks the sampler, records
  each trial as a child run and queues it on Dask (until it is up, the submitting process
  does); the run executor on the worker prepares the run (snapshot, environment), starts the
  script, tails its metrics into the store, finalizes (outputs, logs, status); the controller
  wakes on the executor's Dask event and issues the next trial. Timed from ``submit`` to the
  end of ``srun.wait_for_completion()`` (the sweep run ``Completed``).
- raw: ``study.ask()`` -> ``client.submit(run the script with subprocess)`` ->
  ``as_completed`` -> ``study.tell()``, with a Dask client already connected and Optuna already
  imported in the benchmark process.

Run: .venv/bin/python benchmarks/bench_sweep_overhead.py [--trials 200] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cumulus import Experiment, ScriptRunConfig, Workspace
from cumulus.compute import ComputeTarget
from cumulus.sweeps import BayesianSampling, RandomSampling, Sweep, uniform

OBJECTIVE = """
import argparse, time
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--x", type=float)
p.add_argument("--y", type=float)
a = p.parse_args()
time.sleep(0.01)  # the 10 ms objective
loss = (a.x - 0.3) ** 2 + (a.y + 0.2) ** 2
Run.get_context().log("loss", loss)
print(f"loss={loss!r}")
"""
SPACE = {"--x": uniform(-1, 1), "--y": uniform(-1, 1)}
SRC = str(Path(__file__).resolve().parents[1] / "src")


class CpuMeter:
    """CPU seconds (user + system, reaped children included) used by this process and the
    cluster's manager process tree: load on the shared machine barely changes it."""

    def __init__(self, manager_pid: int) -> None:
        import psutil

        self.manager = psutil.Process(manager_pid)
        self.me = psutil.Process()

    def _total(self) -> float:
        import psutil

        total = 0.0
        for proc in [self.me, self.manager, *self.manager.children(recursive=True)]:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
        return total

    def __enter__(self) -> CpuMeter:
        self.start = self._total()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = self._total() - self.start


def run_script(script: str, x: float, y: float) -> float:
    """The raw side's Dask task: the same script, as a subprocess, on the worker."""
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("CUMULUS_RUN_ID", None)
    # "--x=-6e-05": a tiny negative value written apart ("--x", "-6e-05") looks like an option
    # to argparse (cumulus writes it out positionally, see sweeps._trials.argument_value)
    out = subprocess.run([sys.executable, script, f"--x={x!r}", f"--y={y!r}"],
                         capture_output=True, text=True, env=env, cwd=os.path.dirname(script),
                         check=True).stdout
    return float(out.rsplit("loss=", 1)[1])


def bench_cumulus(ws: Workspace, src: Path, kind: str, trials: int, concurrency: int,
                  seed: int) -> dict[str, Any]:
    sampler = (RandomSampling(SPACE, seed=seed) if kind == "random"
               else BayesianSampling(SPACE, seed=seed, n_startup_trials=10))
    sweep = Sweep(ScriptRunConfig(source_directory=src, script="objective.py"), sampler,
                  "loss", "minimize", max_total_runs=trials, max_concurrent_runs=concurrency)
    t0 = time.perf_counter()
    srun = Experiment(ws, f"bench-sweep-{kind}").submit(sweep)
    controller = srun.controller_status()["pid"]
    srun.wait_for_completion(raise_on_error=False)    # woken by the controller's end event
    wall = time.perf_counter() - t0
    while _alive(controller):  # let it exit and be reaped, so that its CPU time is counted
        time.sleep(0.02)
    assert srun.get_status() == "Completed", srun.get_log()[-2000:]
    children = ws.store.children(srun.id)
    odd = [(c["id"], c["status"], c.get("error"), ws.store.read_log(c["id"])[0][-600:])
           for c in children if c["status"] != "Completed"]
    assert len(children) == trials and not odd, (len(children), odd[:3])
    first = min(c["created_at"] for c in children)
    last = max(c["end_time"] for c in children)
    best = srun.get_children_sorted_by_primary_metric(top=1)[0]["best_primary_metric"]
    return {"wall": wall, "steady": (last - first).total_seconds(), "best": best}


def _alive(pid: int) -> bool:
    """True until the process has exited and been reaped (a zombie still counts)."""
    import psutil

    return bool(psutil.pid_exists(pid))


def bench_raw(client: Any, script: str, kind: str, trials: int, concurrency: int,
              seed: int) -> dict[str, Any]:
    import optuna
    from distributed import as_completed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.RandomSampler(seed=seed) if kind == "random" else
               optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, multivariate=True,
                                          constant_liar=True))
    dists = {"x": optuna.distributions.FloatDistribution(-1, 1),
             "y": optuna.distributions.FloatDistribution(-1, 1)}
    t0 = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=sampler)
    pending = as_completed()
    asked = 0

    def launch() -> None:
        nonlocal asked
        trial = study.ask(dists)
        future = client.submit(run_script, script, trial.params["x"], trial.params["y"],
                               pure=False)
        future.trial = trial  # type: ignore[attr-defined]
        pending.add(future)
        asked += 1

    while asked < min(concurrency, trials):
        launch()
    for future in pending:
        study.tell(future.trial, future.result())  # type: ignore[attr-defined]
        future.release()
        if asked < trials:
            launch()
    wall = time.perf_counter() - t0
    assert len(study.trials) == trials
    return {"wall": wall, "best": study.best_value}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--samplers", default="random,bayesian")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cumulus-bench-sweep-"))
    os.environ.setdefault("CUMULUS_CACHE_DIR", str(tmp / "cache"))
    src = tmp / "src"
    src.mkdir()
    (src / "objective.py").write_text(OBJECTIVE)
    ws = Workspace.create("bench", path=tmp / "ws",
                          local_compute={"min_nodes": 2, "max_nodes": 2})
    target = ComputeTarget(ws, "local")
    target.wait_for_completion(min_node_count=2)
    from distributed import Client

    client = Client(target.backend.ensure_running())  # the raw side's own, default client
    manager = int(target.backend.state["pid"])
    run_script(str(src / "objective.py"), 0.1, 0.1)  # warm the page cache
    rows = []
    try:
        for kind in args.samplers.split(","):
            ours, raw = [], []
            for rep in range(args.repeats):
                with CpuMeter(manager) as cpu:
                    raw.append(bench_raw(client, str(src / "objective.py"), kind,
                                         args.trials, args.concurrency, rep))
                raw[-1]["cpu"] = cpu.seconds
                with CpuMeter(manager) as cpu:
                    ours.append(bench_cumulus(ws, src, kind, args.trials, args.concurrency,
                                              rep))
                ours[-1]["cpu"] = cpu.seconds
            rows.append((kind, ours, raw))
    finally:
        client.close()
        target.backend.stop()
    _report(rows, args)


def _report(rows: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]],
            args: argparse.Namespace) -> None:
    import os as _os

    n = args.trials
    print(f"{n} trials of a 10 ms objective script, {args.concurrency} in flight, 2 nodes; "
          f"median of {args.repeats}; load average at the end {_os.getloadavg()[0]:.1f}")
    head = (f"{'sampler':<10} {'side':<28} {'wall s':>8} {'trials/s':>9} {'vs raw':>7} "
            f"{'cpu ms/trial':>13} {'vs raw':>7} {'best loss':>10}")
    print(head)
    print("-" * len(head))
    for kind, ours, raw in rows:
        raw_wall = statistics.median(r["wall"] for r in raw)
        raw_cpu = statistics.median(r["cpu"] for r in raw) / n * 1000
        wall = statistics.median(r["wall"] for r in ours)
        cpu = statistics.median(r["cpu"] for r in ours) / n * 1000
        steady = statistics.median(r["steady"] for r in ours)
        print(f"{kind:<10} {'raw optuna + raw dask':<28} {raw_wall:>8.2f} {n / raw_wall:>9.1f} "
              f"{1.0:>6.2f}x {raw_cpu:>13.1f} {1.0:>6.2f}x {min(r['best'] for r in raw):>10.4f}")
        print(f"{kind:<10} {'cumulus sweep (end to end)':<28} {wall:>8.2f} {n / wall:>9.1f} "
              f"{wall / raw_wall:>6.2f}x {cpu:>13.1f} {cpu / raw_cpu:>6.2f}x "
              f"{min(r['best'] for r in ours):>10.4f}")
        print(f"{kind:<10} {'cumulus, first..last trial':<28} {steady:>8.2f} "
              f"{n / steady:>9.1f} {steady / raw_wall:>6.2f}x")
    print("goal: cumulus end to end <= 1.2x raw (wall; issue #12)")


if __name__ == "__main__":
    main()
