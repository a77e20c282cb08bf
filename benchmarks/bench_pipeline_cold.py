"""Cold start of pipelines: the first 2-step trivial pipeline in a fresh workspace, with every
service it needs started on the way (the installation's Prefect server, the pipeline agent, the
compute manager and its first node), against the same two runs submitted directly in another
fresh workspace (compute manager and node only). Goal (issue #13): at most 15 s in all on a
quiet machine. The breakdown comes from the run records: submit -> pipeline Running (services
and the flow start), -> first step Running (its node), -> completed. Then the same in fresh
workspaces while the installation's Prefect server runs (shared: a second workspace's case).

    .venv/bin/python benchmarks/bench_pipeline_cold.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cumulus.flows import Input, Output, pipeline, step


@step
def first(out: Output) -> None:
    Path(out, "x.txt").write_text("1")


@step
def second(data: Input, out: Output) -> None:
    Path(out, "y.txt").write_text(Path(data, "x.txt").read_text() + "2")


@pipeline(name="cold")
def cold():  # type: ignore[no-untyped-def]
    second(data=first())


def _ts(value: Any) -> float:
    return datetime.fromisoformat(value).timestamp() if value else float("nan")


def one_pipeline(root: Path, keep_server: bool = False) -> dict[str, float]:
    """The first pipeline of a fresh workspace; ``keep_server``: the installation's Prefect
    server is left running for the next one (as another workspace using it would)."""
    from cumulus import Experiment, Workspace
    from cumulus.services import KINDS, stop_services

    ws = Workspace.create("cold", path=root)
    try:
        started = time.time()
        prun = Experiment(ws, "cold").submit(cold)
        prun.wait_for_completion(timeout=600)
        total = time.time() - started
        details = prun.get_details()
        steps = sorted(prun.get_steps(), key=lambda r: r.get_details()["startTimeUtc"] or "")
        step1 = steps[0].get_details()
        return {"total": total,
                "to_pipeline_running": _ts(details["startTimeUtc"]) - started,
                "to_first_step_running": _ts(step1["startTimeUtc"]) - started}
    finally:
        stop_services(ws, kinds=[k for k in KINDS if not (keep_server and
                                                         k == "prefect-server")])


def two_runs(root: Path, src: Path) -> float:
    from cumulus import Experiment, ScriptRunConfig, Workspace
    from cumulus.services import stop_services

    ws = Workspace.create("direct", path=root)
    try:
        started = time.time()
        exp = Experiment(ws, "direct")
        for _ in range(2):
            exp.submit(ScriptRunConfig(source_directory=str(src), script="t.py")) \
                .wait_for_completion(timeout=600)
        return time.time() - started
    finally:
        stop_services(ws)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    rows, direct, warm = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["CUMULUS_CACHE_DIR"] = str(Path(tmp) / "cache")   # a cold installation
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "t.py").write_text("print('ok')\n")
        for i in range(args.repeats):
            rows.append(one_pipeline(Path(tmp) / f"p{i}"))
            direct.append(two_runs(Path(tmp) / f"d{i}", src))
            print(f"round {i + 1}: pipeline {rows[-1]['total']:.1f} s (Running after "
                  f"{rows[-1]['to_pipeline_running']:.1f} s, first step Running after "
                  f"{rows[-1]['to_first_step_running']:.1f} s); 2 direct runs "
                  f"{direct[-1]:.1f} s", flush=True)
        one_pipeline(Path(tmp) / "warm-up", keep_server=True)
        for i in range(args.repeats):
            warm.append(one_pipeline(Path(tmp) / f"w{i}", keep_server=i < args.repeats - 1))
            print(f"round {i + 1}, the installation's Prefect server already running: "
                  f"pipeline {warm[-1]['total']:.1f} s (Running after "
                  f"{warm[-1]['to_pipeline_running']:.1f} s)", flush=True)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"median: first 2-step pipeline in a fresh workspace {med['total']:.1f} s (goal 15 s): "
          f"services + flow start {med['to_pipeline_running']:.1f} s, first step's node "
          f"{med['to_first_step_running'] - med['to_pipeline_running']:.1f} s, steps "
          f"{med['total'] - med['to_first_step_running']:.1f} s; the same 2 runs direct in a "
          f"fresh workspace {statistics.median(direct):.1f} s")
    print(f"median: first 2-step pipeline in a fresh workspace while another workspace keeps "
          f"the installation's Prefect server running "
          f"{statistics.median(r['total'] for r in warm):.1f} s")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
