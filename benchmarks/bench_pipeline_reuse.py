"""Step reuse: resubmitting an unchanged 5-step pipeline whose steps take 5 s each.

A linear pipeline (each step reads the previous step's output; the first reads a datastore
file) runs on the ``local`` target with one warm node:

1. ``first``: every step runs (5 x 5 s of work);
2. ``unchanged``: the same submission again: every step is reused (goal: at most 5% of the
   first run's time, Prefect flow start included);
3. ``one parameter changed``: step 3's parameter changes: steps 1-2 are reused, 3-5 run;
4. ``input touched``: the datastore file is rewritten with the same bytes: its mtime changes
   but not its content, so every step is reused (a local datastore's files are fingerprinted
   by their SHA-256, remembered by path, size, mtime and inode; before, by size and mtime, and
   every step ran).

Timed from ``exp.submit`` to the pipeline run's Completed. The workspace's own Prefect
server is started first (not timed), as a user's first submission would.

Run: ``.venv/bin/python benchmarks/bench_pipeline_reuse.py [--seconds 5] [--steps 5]``
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cumulus.datastores import DataPath
from cumulus.flows import Input, Output, pipeline, step

HERE = Path(__file__).resolve().parent


@step
def work(data: Input, out: Output, *, index: int = 0, seconds: float = 5.0,
         salt: str = "") -> None:
    import time as _time

    text = Path(data).read_text() if Path(data).is_file() else \
        Path(data, "part.txt").read_text()
    _time.sleep(seconds)
    Path(out, "part.txt").write_text(f"{text}\nstep {index} {salt}")


def make_pipeline(steps: int) -> Any:
    @pipeline(name="bench-reuse")
    def chain(raw: str, seconds: float = 5.0, salt3: str = ""):  # type: ignore[no-untyped-def]
        prev: Any = DataPath("workspacestore", raw)
        for i in range(steps):
            prev = work.with_options(name=f"step{i + 1}")(
                data=prev, index=i, seconds=seconds, salt=salt3 if i == 2 else "")
        return prev

    return chain


def _wait(ws: Any, run_id: str) -> str:
    while True:
        status = ws.store.get_status(run_id)
        if status in ("Completed", "Failed", "Canceled"):
            return str(status)
        time.sleep(0.01)


def timed(ws: Any, pipe: Any, params: dict[str, Any]) -> tuple[float, dict[str, int]]:
    from cumulus import Experiment

    t0 = time.perf_counter()
    prun = Experiment(ws, "bench-reuse").submit(pipe, pipeline_parameters=params)
    assert _wait(ws, prun.id) == "Completed", prun.get_log()
    took = time.perf_counter() - t0
    kinds = {"reused": 0, "ran": 0}
    for child in prun.get_children():
        kinds["reused" if child.get_properties().get("reused_run") else "ran"] += 1
    return took, kinds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    from cumulus import Workspace
    from cumulus.compute import ComputeTarget
    from cumulus.flows._agent import stop_agent
    from cumulus.flows._prefect import LocalServer

    work_dir = HERE / "_work" if (HERE / "_work").is_dir() else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-reuse-", dir=work_dir))
    ws = Workspace.create("benchreuse", path=tmp / "ws",
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    ComputeTarget(ws, "local").wait_for_completion(min_node_count=1)
    LocalServer(ws).ensure(wait=True)
    ds = ws.get_default_datastore()
    with ds.fs.open(ds.full_path("bench/raw.txt"), "w") as fh:
        fh.write("raw data")
    chain = make_pipeline(args.steps)
    base = {"raw": "bench/raw.txt", "seconds": args.seconds}
    rows = []
    try:
        timed(ws, make_pipeline(1), {**base, "seconds": 0.0})  # warm-up: agent, node
        rows.append(("first", *timed(ws, chain, base)))
        rows.append(("unchanged", *timed(ws, chain, base)))
        rows.append(("one parameter changed", *timed(ws, chain, {**base, "salt3": "x"})))
        with ds.fs.open(ds.full_path("bench/raw.txt"), "w") as fh:
            fh.write("raw data")
        rows.append(("input touched", *timed(ws, chain, {**base, "salt3": "x"})))
    finally:
        stop_agent(ws)
        LocalServer(ws).stop()
        ComputeTarget(ws, "local").backend.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    first = rows[0][1]
    print(f"\n{args.steps}-step linear pipeline, {args.seconds:g} s of work per step\n")
    print(f"| {'submission':<22} | {'seconds':>7} | {'vs first':>8} | {'ran':>3} | "
          f"{'reused':>6} |")
    print(f"|{'-' * 24}|{'-' * 9}|{'-' * 10}|{'-' * 5}|{'-' * 8}|")
    for label, took, kinds in rows:
        print(f"| {label:<22} | {took:7.2f} | {took / first:8.1%} | {kinds['ran']:>3} | "
              f"{kinds['reused']:>6} |")
    print("\ngoal (issue #13): unchanged <= 5% of first")
    return 0


if __name__ == "__main__":
    sys.exit(main())
