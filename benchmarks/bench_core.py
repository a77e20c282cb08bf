"""Foundation benchmarks: dispatch vs raw Dask, metric logging, submit latency, CLI start.

Run: .venv/bin/python benchmarks/bench_core.py [--runs 200] [--metrics 100000] [--pg URL]
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

from cumulus import Experiment, ScriptRunConfig, Workspace
from cumulus.compute import ComputeTarget

TRIVIAL = "print('ok')\n"
METRICS = """
import sys, time
from cumulus import Run
run = Run.get_context()
n = int(sys.argv[1])
t0 = time.time()
for i in range(n):
    run.log("m", i)
run.flush()
print("logged", n, "in", round(time.time() - t0, 3), "s")
"""


def _raw_launch(script: str) -> int:
    return subprocess.run([sys.executable, script], capture_output=True).returncode


WARM_UP = 10   # runs each side does before the clock starts (see bench_dispatch)


def bench_dispatch(ws: Workspace, src: Path, n: int, block: int = 100) -> tuple[float, float]:
    """Throughput of ``n`` runs, both sides warm: the client connected, each node having run
    a few (its first run imports what runs need). A first run's latency is measured apart
    (``submit -> Running``, and bench_compute_scaleup.py).

    The two sides take turns in blocks of ``block`` runs (ours, raw, raw, ours, ...), and each
    side's blocks are summed: a machine whose speed drifts during the benchmark (a 2-core VM
    does, by tens of percent within a minute) then weighs on both sides alike, instead of on
    whichever ran second."""
    exp = Experiment(ws, "bench-dispatch")
    cfg = ScriptRunConfig(source_directory=src, script="trivial.py")
    for run in [exp.submit(cfg) for _ in range(WARM_UP)]:
        run.wait_for_completion()
    client = ComputeTarget(ws, "local").backend.client()
    script = str(src / "trivial.py")
    client.gather([client.submit(_raw_launch, script, pure=False) for _ in range(WARM_UP)])

    def ours(count: int) -> tuple[float, list[str], float]:
        t0 = time.perf_counter()
        runs = [exp.submit(cfg) for _ in range(count)]
        submitted = time.perf_counter()
        for run in runs:            # what a user writes; raw Dask's side gathers its futures
            run.wait_for_completion(raise_on_error=False)
        took = time.perf_counter() - t0
        failed = [r.id for r in runs if r.get_status() != "Completed"]
        assert not failed, failed[:3]
        return took, [r.id for r in runs], submitted - t0

    def raw(count: int) -> float:
        t0 = time.perf_counter()
        futures = [client.submit(_raw_launch, script, pure=False) for _ in range(count)]
        codes = client.gather(futures)
        took = time.perf_counter() - t0
        assert all(c == 0 for c in codes)
        del futures
        return took

    sizes = [min(block, n - i) for i in range(0, n, block)]
    total_ours = total_raw = submit_s = 0.0
    run_ids: list[str] = []
    pairs: list[float] = []
    for i, size in enumerate(sizes):
        if i % 2 == 0:
            took, ids, sub = ours(size)
            raw_s = raw(size)
        else:
            raw_s = raw(size)
            took, ids, sub = ours(size)
        total_ours, total_raw, submit_s = total_ours + took, total_raw + raw_s, submit_s + sub
        run_ids += ids
        pairs.append(took / raw_s)
    print_phases(ws, run_ids, submit_s=submit_s)
    print(f"  {len(pairs)} turns of {block} runs, ours/raw per turn: "
          f"{', '.join(f'{r:.2f}' for r in pairs)}; median {statistics.median(pairs):.2f}x",
          flush=True)
    return total_ours, total_raw


PHASES = (("Queued", "Preparing"), ("Preparing", "Running"), ("Running", "Finalizing"),
          ("Finalizing", "Completed"))


def print_phases(ws: Workspace, run_ids: list[str], submit_s: float) -> None:
    """Where a dispatched run's time goes, from its recorded status changes (median ms)."""
    spans: dict[str, list[float]] = {f"{a}->{b}": [] for a, b in PHASES}
    for run_id in run_ids:
        when = {e["to_status"]: e["time"].timestamp() for e in ws.store.status_events(run_id)}
        for a, b in PHASES:
            if a in when and b in when:
                spans[f"{a}->{b}"].append((when[b] - when[a]) * 1000)
    parts = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in spans.items() if v)
    # a script that ends within 50 ms has Running recorded with its end: its run time shows
    # as Preparing->Running
    print(f"  submit loop {submit_s / len(run_ids) * 1000:.1f} ms/run; phases (median ms): "
          f"{parts}; a node's idle gap from one run's end to its next claim: "
          f"{_node_gap(ws, run_ids):.1f} ms (median)", flush=True)


def _node_gap(ws: Workspace, run_ids: list[str]) -> float:
    by_node: dict[str, list[tuple[float, float]]] = {}
    for run_id in run_ids:
        when = {e["to_status"]: e["time"].timestamp() for e in ws.store.status_events(run_id)}
        node = str(ws.store.get_run(run_id).get("node"))
        if "Preparing" in when and "Completed" in when:
            by_node.setdefault(node, []).append((when["Preparing"], when["Completed"]))
    gaps = [b[0] - a[1] for spans in by_node.values()
            for a, b in zip(sorted(spans), sorted(spans)[1:], strict=False) if b[0] >= a[1]]
    return statistics.median(gaps) * 1000 if gaps else float("nan")


def bench_metrics(ws: Workspace, src: Path, n: int) -> tuple[float, int]:
    exp = Experiment(ws, "bench-metrics")
    run = exp.submit(ScriptRunConfig(source_directory=src, script="metrics.py", arguments=[n]))
    while run.get_status() not in ("Running", "Finalizing", "Completed", "Failed"):
        time.sleep(0.01)
    count = 0
    while count < n and run.get_status() not in ("Failed",):
        count = ws.store.count_metrics(run.id)
        time.sleep(0.02)
    t_end = time.time()
    rows = ws.store.get_metric_rows([run.id], "m")
    first = min(r["time"] for r in rows)
    run.wait_for_completion()
    return n / (t_end - first), len(rows)


def bench_latency(ws: Workspace, src: Path, n: int = 20) -> list[float]:
    exp = Experiment(ws, "bench-latency")
    cfg = ScriptRunConfig(source_directory=src, script="trivial.py")
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        run = exp.submit(cfg)
        while run.get_status() in ("Queued", "Preparing"):
            time.sleep(0.002)
        out.append(time.perf_counter() - t0)
        run.wait_for_completion()
    return out


SLEEPER = """
import os, sys, time
open(sys.argv[1], "w").write(str(os.getpid()))
time.sleep(300)
"""


def _stopped(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def bench_cancel(ws: Workspace, src: Path, pushed: bool, n: int = 5) -> list[float]:
    """Seconds from a cancel request to the script's process gone: ``pushed`` through the
    client the submit left (a Dask event), else recorded in the store only (what a process
    holding no client of the cluster does; the executor reads it every 0.5 s)."""
    from cumulus.tasks.cancel import cancel_run

    exp = Experiment(ws, "bench-cancel")
    out = []
    for i in range(n):
        pid_file = src / f"pid-{pushed}-{i}"
        run = exp.submit(ScriptRunConfig(source_directory=src, script="sleeper.py",
                                         arguments=[str(pid_file)]))
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.01)
        time.sleep(0.3 + 0.1 * i)          # land anywhere in the executor's 0.5 s cycle
        pid = int(pid_file.read_text())
        t0 = time.perf_counter()
        if pushed:
            run.cancel()
        else:
            cancel_run(ws.store, run.id)
        while not _stopped(pid):
            time.sleep(0.001)
        out.append(time.perf_counter() - t0)
        run.wait_for_completion(raise_on_error=False)
    return out


def bench_cli(root: Path, n: int = 5) -> list[float]:
    exe = Path(sys.executable).with_name("cumulus")
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "runs", "list"], cwd=root, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return times


def _dispatch_rows(ws: Workspace, src: Path, args: argparse.Namespace,
                   rows: list[tuple[str, str, str, str]]) -> None:
    ours, raw = bench_dispatch(ws, src, args.runs, args.block)
    rows.append((f"dispatch: {args.runs} trivial runs", f"{ours:.2f} s",
                 f"raw dask {raw:.2f} s", f"{ours / raw:.2f}x (goal <= 1.5x)"))


def _foundation_rows(ws: Workspace, src: Path, args: argparse.Namespace,
                     rows: list[tuple[str, str, str, str]]) -> None:
    rate, count = bench_metrics(ws, src, args.metrics)
    rows.append((f"metrics into SQLite ({count} rows)", f"{rate:,.0f}/s", "",
                 "goal >= 50k/s"))
    lat = bench_latency(ws, src)
    rows.append(("submit -> Running (warm)", f"p50 {statistics.median(lat):.3f} s",
                 f"max {max(lat):.3f} s", "goal <= 0.5 s"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--metrics", type=int, default=100_000)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--only", choices=["cancel", "dispatch"], help="run one part only")
    ap.add_argument("--block", type=int, default=100,
                    help="dispatch: runs per turn; the two sides alternate turns")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cumulus-bench-"))
    os.environ.setdefault("CUMULUS_CACHE_DIR", str(tmp / "cache"))
    src = tmp / "src"
    src.mkdir()
    (src / "trivial.py").write_text(TRIVIAL)
    (src / "metrics.py").write_text(METRICS)
    (src / "sleeper.py").write_text(SLEEPER)
    ws = Workspace.create("bench", path=tmp / "ws",
                          local_compute={"min_nodes": 2, "max_nodes": 2})
    ComputeTarget(ws, "local").wait_for_completion(min_node_count=2)
    rows = []
    try:
        if args.only in (None, "dispatch"):
            _dispatch_rows(ws, src, args, rows)
        if args.only is None:
            _foundation_rows(ws, src, args, rows)
        for pushed in (True, False) if args.only in (None, "cancel") else ():
            took = bench_cancel(ws, src, pushed)
            rows.append((f"cancel -> script stopped ({'pushed' if pushed else 'store only'})",
                         f"p50 {statistics.median(took):.3f} s", f"max {max(took):.3f} s",
                         "goal < 0.5 s"))
        if args.only is None:
            cli = bench_cli(ws.root)
            rows.append(("CLI cold start `runs list`", f"p50 {statistics.median(cli):.3f} s",
                         f"min {min(cli):.3f} s", "goal <= 0.5 s"))
    finally:
        ComputeTarget(ws, "local").backend.stop()
    if args.pg and args.only is None:
        ws_pg = Workspace.create("benchpg", path=tmp / "wspg", store=args.pg,
                                 local_compute={"min_nodes": 1, "max_nodes": 1})
        try:
            ComputeTarget(ws_pg, "local").wait_for_completion(min_node_count=1)
            rate, count = bench_metrics(ws_pg, src, args.metrics)
            rows.append((f"metrics into PostgreSQL ({count} rows)", f"{rate:,.0f}/s", "",
                         "goal >= 20k/s"))
        finally:
            ComputeTarget(ws_pg, "local").backend.stop()
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>14}  {r[2]:>18}  {r[3]}")


if __name__ == "__main__":
    main()
