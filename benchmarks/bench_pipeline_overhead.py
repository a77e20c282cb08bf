"""Pipeline overhead: a 20-step linear pipeline of trivial steps vs the same 20 runs direct.

Three ways to run 20 trivial runs one after the other on the ``local`` target (one warm node):

- ``direct``: ``exp.submit(ScriptRunConfig)`` then wait, 20 times (the baseline);
- ``raw prefect``: a plain Prefect flow of 20 chained tasks, each submitting the same run and
  waiting for it (what the pipeline layer adds beyond Prefect itself);
- ``pipeline (script steps)``: ``script_step`` with the same ScriptRunConfig, chained with
  ``run_after``; ``pipeline (function steps)``: a trivial ``@step`` function (cloudpickled and
  called by the step runner), chained the same way.

Pipelines are timed from ``exp.submit`` to the pipeline run's Completed; "flow start" is the
time from submit to the first step run's creation (the agent claims the run, forks, the
Prefect flow run starts). The goal: pipeline time minus one flow start at most 1.3x direct.
Every pipeline run uses ``regenerate_outputs=True`` so nothing is reused.

Run: ``.venv/bin/python benchmarks/bench_pipeline_overhead.py [--steps 20] [--repeats 3]``;
``--fanout 100`` instead times 100 independent steps against 100 runs submitted at once and
then awaited.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus.flows import pipeline, script_step, step

HERE = Path(__file__).resolve().parent
SCRIPT = "print('step done')\n"


@step
def noop(index: int = 0) -> None:
    print("step done", index)


def _wait(ws: Any, run_id: str, poll: float = 0.01) -> str:
    while True:
        status = ws.store.get_status(run_id)
        if status in ("Completed", "Failed", "Canceled"):
            return str(status)
        time.sleep(poll)


def make_pipelines(src: Path, steps: int) -> tuple[Any, Any]:
    from cumulus import ScriptRunConfig

    @pipeline(name="bench-linear-script")
    def linear_script():  # type: ignore[no-untyped-def]
        prev = None
        for i in range(steps):
            prev = script_step(ScriptRunConfig(source_directory=src, script="s.py",
                                               arguments=[i]), name=f"s{i}", run_after=prev)

    @pipeline(name="bench-linear-function")
    def linear_function():  # type: ignore[no-untyped-def]
        prev = None
        for i in range(steps):
            prev = noop.with_options(name=f"f{i}")(index=i, run_after=prev)

    return linear_script, linear_function


def make_fanout(src: Path, steps: int) -> Any:
    from cumulus import ScriptRunConfig

    @pipeline(name="bench-fanout-script")
    def fanout():  # type: ignore[no-untyped-def]
        for i in range(steps):
            script_step(ScriptRunConfig(source_directory=src, script="s.py", arguments=[i]),
                        name=f"s{i}")

    return fanout


def time_direct_fanout(ws: Any, src: Path, steps: int) -> float:
    """``steps`` runs submitted at once, then all awaited."""
    from cumulus import Experiment, ScriptRunConfig

    exp = Experiment(ws, "bench-direct-fanout")
    t0 = time.perf_counter()
    runs = [exp.submit(ScriptRunConfig(source_directory=src, script="s.py", arguments=[i]))
            for i in range(steps)]
    for run in runs:
        assert _wait(ws, run.id) == "Completed", run.get_log()
    return time.perf_counter() - t0


def time_direct(ws: Any, src: Path, steps: int) -> float:
    from cumulus import Experiment, ScriptRunConfig

    exp = Experiment(ws, "bench-direct")
    t0 = time.perf_counter()
    for i in range(steps):
        run = exp.submit(ScriptRunConfig(source_directory=src, script="s.py", arguments=[i]))
        assert _wait(ws, run.id) == "Completed", run.get_log()
    return time.perf_counter() - t0


def time_raw_prefect(ws: Any, src: Path, steps: int) -> float:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from cumulus import Experiment, ScriptRunConfig

    exp = Experiment(ws, "bench-raw-prefect")

    @task(cache_policy=NO_CACHE, persist_result=False)
    def one(i: int, _after: Any = None) -> str:
        run = exp.submit(ScriptRunConfig(source_directory=src, script="s.py", arguments=[i]))
        return _wait(ws, run.id)

    @flow(name="bench-raw-prefect", persist_result=False)
    def chain() -> None:
        prev = None
        for i in range(steps):
            prev = one.submit(i, prev)
        prev.wait()

    t0 = time.perf_counter()
    chain()
    return time.perf_counter() - t0


BREAKDOWN: dict[str, dict[str, list[float]]] = {}


def time_pipeline(ws: Any, pipe: Any) -> tuple[float, float, float, float]:
    """(total, flow start, pipeline start, end) seconds for one submission of ``pipe``.

    flow start: submit -> the first step run is created (agent, fork, Prefect flow run);
    pipeline start: submit -> the first step run is Running (flow start plus the pipeline
    process's first connection to the compute target's Dask scheduler).
    """
    from cumulus import Experiment

    exp = Experiment(ws, pipe.name)
    t0 = time.perf_counter()
    prun = exp.submit(pipe, regenerate_outputs=True)
    assert _wait(ws, prun.id) == "Completed", prun.get_log()
    total = time.perf_counter() - t0
    rec = ws.store.get_run(prun.id)
    children = ws.store.children(prun.id)
    first = min(c["created_at"] for c in children)
    last_end = max(c["end_time"] for c in children)
    start = (first - rec["created_at"]).total_seconds()
    running = min(c["start_time"] for c in children)
    connected = (running - rec["created_at"]).total_seconds()
    end = (rec["end_time"] - last_end).total_seconds()
    parts = BREAKDOWN.setdefault(pipe.name, {})
    for step_times in (rec["properties"].get("step_timings") or {}).values():
        for key, value in step_times.items():
            parts.setdefault(key, []).append(value)
    return total, start, connected, end


@contextmanager
def bench_workspace() -> Iterator[tuple[Any, Path]]:
    """A fresh workspace with one warm node and a trivial script; everything stopped after."""
    from cumulus import Workspace
    from cumulus.compute import ComputeTarget
    from cumulus.flows._agent import stop_agent
    from cumulus.flows._prefect import LocalServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-", dir=HERE / "_work"
                                if (HERE / "_work").is_dir() else None))
    src = tmp / "src"
    src.mkdir()
    (src / "s.py").write_text(SCRIPT)
    ws = Workspace.create("benchpipe", path=tmp / "ws",
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    try:
        ComputeTarget(ws, "local").wait_for_completion(min_node_count=1)
        yield ws, src
    finally:
        stop_agent(ws)
        LocalServer(ws).stop()
        ComputeTarget(ws, "local").backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fanout", type=int, default=0,
                        help="instead: N independent steps vs N runs submitted at once")
    args = parser.parse_args()
    from cumulus.flows._prefect import LocalServer

    with bench_workspace() as (ws, src):
        linear_script, linear_function = make_pipelines(src, args.steps)
        if args.fanout:
            return run_fanout(ws, src, args.fanout, args.repeats, linear_function)
        results: dict[str, list[float]] = {k: [] for k in (
            "direct", "raw prefect", "script total", "script start", "script running",
            "script end", "function total", "function start", "function running",
            "function end")}
        time_pipeline(ws, linear_function)  # warm-up: Prefect server, agent, node caches
        import os

        os.environ["PREFECT_API_URL"] = LocalServer(ws).url_if_alive() or ""  # raw prefect too
        time_direct(ws, src, 3)
        time_raw_prefect(ws, src, 2)
        for _ in range(args.repeats):
            results["direct"].append(time_direct(ws, src, args.steps))
            results["raw prefect"].append(time_raw_prefect(ws, src, args.steps))
            for label, pipe in (("script", linear_script), ("function", linear_function)):
                total, start, running, end = time_pipeline(ws, pipe)
                results[f"{label} total"].append(total)
                results[f"{label} start"].append(start)
                results[f"{label} running"].append(running)
                results[f"{label} end"].append(end)
    report(results, args.steps, args.repeats)
    return 0


def run_fanout(ws: Any, src: Path, steps: int, repeats: int, warm: Any) -> int:
    fan = make_fanout(src, steps)
    time_pipeline(ws, warm)                 # Prefect server, agent, node caches
    time_direct_fanout(ws, src, 5)
    direct, total, start = [], [], []
    for _ in range(repeats):
        direct.append(time_direct_fanout(ws, src, steps))
        t, s, _running, _end = time_pipeline(ws, fan)
        total.append(t)
        start.append(s)
    d, t, s = (statistics.median(v) for v in (direct, total, start))
    print(f"\n{steps} independent trivial runs, median of {repeats} (seconds)\n")
    print("| way | total | flow start | (total - flow start) / direct |")
    print("|---|---|---|---|")
    print(f"| direct: all submitted, then awaited | {d:.2f} | - | 1.00 |")
    print(f"| pipeline of {steps} independent script steps | {t:.2f} | {s:.2f} | "
          f"{(t - s) / d:.2f} |")
    print(f"(each: {', '.join(f'{x:.2f}' for x in direct)} direct; "
          f"{', '.join(f'{x:.2f}' for x in total)} pipeline)")
    return 0


def report(results: dict[str, list[float]], steps: int, repeats: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    direct = med["direct"]
    print(f"\n{steps} trivial runs in a chain, median of {repeats} (seconds)\n")
    print(f"| {'way':<26} | {'total':>7} | {'flow start':>10} | {'+ compute':>9} | "
          f"{'(total - flow start) / direct':>29} | {'(total - both) / direct':>23} |")
    print(f"|{'-' * 28}|{'-' * 9}|{'-' * 12}|{'-' * 11}|{'-' * 31}|{'-' * 25}|")
    print(f"| {'direct submit + wait':<26} | {direct:7.2f} | {'-':>10} | {'-':>9} | "
          f"{1.0:29.2f} | {1.0:23.2f} |")
    raw = med["raw prefect"]
    print(f"| {'raw prefect tasks':<26} | {raw:7.2f} | {'-':>10} | {'-':>9} | "
          f"{raw / direct:29.2f} | {raw / direct:23.2f} |")
    for label in ("script", "function"):
        total, start = med[f"{label} total"], med[f"{label} start"]
        running = med[f"{label} running"]
        print(f"| {'pipeline, ' + label + ' steps':<26} | {total:7.2f} | {start:10.2f} | "
              f"{running - start:9.2f} | {(total - start) / direct:29.2f} | "
              f"{(total - running) / direct:23.2f} |")
    print("\nflow start: submit -> first step run created; + compute: -> first step run Running"
          " (the pipeline process connects to the Dask scheduler once)")
    print(f"\npipeline end (last step done -> pipeline Completed): script "
          f"{med['script end']:.2f} s, function {med['function end']:.2f} s")
    print("goal: (total - flow start) / direct <= 1.30")
    print("\nwhere a pipeline step's time goes (median ms; from the pipeline run's step_timings):")
    print("gap = upstream task ended -> this task started (Prefect); run = child submitted ->"
          " seen ended")
    for name, parts in BREAKDOWN.items():
        text = ", ".join(f"{k} {statistics.median(v) * 1000:.0f}" for k, v in parts.items())
        print(f"  {name}: {text}")


if __name__ == "__main__":
    sys.exit(main())
