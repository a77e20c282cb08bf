"""Virtualenv environments: a run's cost with a new, a cached and no environment; uv vs venv+pip.

Part A (end to end, the local compute target with one warm node): the wall time from submit to
Completed of a trivial script that imports the environment's package, for

- ``default``: no environment (the worker's interpreter) - the baseline;
- ``cached``: an environment already built on the node (goal: at most 0.3 s over the baseline);
- ``new``: an environment never seen before (a distinct build hash each time, same packages),
  so the run builds it with uv in Preparing (uv's own package cache is warm).

The three kinds run interleaved, ``--runs`` times each; medians are reported.

Part B (the build alone, no run): ``ensure_venv`` (uv venv + uv pip install) against
``python -m venv`` + ``pip install`` of the same packages, for a small and a numeric package
set; the pip cache and uv's cache are both warm after the first round (reported: the median of
``--builds`` rounds), and once with an empty uv cache (everything downloaded from PyPI).

Run: ``.venv/bin/python benchmarks/bench_env_venv.py [--runs 7] [--builds 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = "import six\nprint('six', six.__version__)\n"
SETS = {"small (six, tqdm)": ["six==1.16.0", "tqdm"],
        "numeric (numpy, scikit-learn)": ["numpy", "scikit-learn"]}


def _wait(ws: object, run_id: str) -> str:
    store = ws.store  # type: ignore[attr-defined]
    while True:
        status = store.get_status(run_id)
        if status in ("Completed", "Failed", "Canceled"):
            return status
        time.sleep(0.01)


def _timed_run(ws: object, src: Path, env: object) -> float:
    from cumulus import Experiment, ScriptRunConfig

    cfg = ScriptRunConfig(source_directory=src, script="s.py", environment=env)
    t0 = time.perf_counter()
    run = Experiment(ws, "bench-env").submit(cfg)  # type: ignore[arg-type]
    status = _wait(ws, run.id)
    took = time.perf_counter() - t0
    assert status == "Completed", run.get_log()
    return took


def part_a(tmp: Path, runs: int) -> list[tuple[str, str, str, str]]:
    from cumulus import Environment, Workspace
    from cumulus.compute import ComputeTarget

    src = tmp / "src"
    src.mkdir()
    (src / "s.py").write_text(SCRIPT)
    ws = Workspace.create("benchenv", path=tmp / "ws",
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    ComputeTarget(ws, "local").wait_for_completion(min_node_count=1)
    cached_env = Environment("cached", pip=["six==1.16.0"])
    times: dict[str, list[float]] = {"default": [], "cached": [], "new": []}
    try:
        _timed_run(ws, src, cached_env)  # build it once; warm the node
        _timed_run(ws, src, None)
        for i in range(runs):
            times["default"].append(_timed_run(ws, src, None))
            times["cached"].append(_timed_run(ws, src, cached_env))
            fresh = Environment("new", pip=["six==1.16.0", f"six!=0.0.{i}"])
            times["new"].append(_timed_run(ws, src, fresh))
    finally:
        ComputeTarget(ws, "local").backend.stop()
    base = statistics.median(times["default"])
    rows = []
    for kind, values in times.items():
        med = statistics.median(values)
        extra = "" if kind == "default" else f"+{med - base:.3f} s"
        goal = "goal <= +0.3 s" if kind == "cached" else ""
        rows.append((f"run, {kind} environment", f"{med:.3f} s",
                     f"min {min(values):.3f} max {max(values):.3f}", f"{extra} {goal}".strip()))
    return rows


def _uv_build(pkgs: list[str], tag: int) -> float:
    """A build of ``pkgs`` under a build hash never seen before (an always-true extra pin)."""
    import re

    from cumulus import Environment
    from cumulus.tasks.environments import ensure_venv

    first = re.split(r"[=<>!~ ]", pkgs[0])[0]
    env = Environment("b", pip=[*pkgs, f"{first}!=0.0.{tag}"], inherit_packages=False)
    t0 = time.perf_counter()
    ensure_venv(env, lambda s: None)
    return time.perf_counter() - t0


def _pip_build(pkgs: list[str], where: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    subprocess.run([str(where / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    *pkgs], check=True, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - t0
    shutil.rmtree(where)
    return took


def part_b(tmp: Path, builds: int) -> list[tuple[str, str, str, str]]:
    rows = []
    for label, pkgs in SETS.items():
        cold_cache = tmp / f"uvcache-{len(rows)}"
        os.environ["UV_CACHE_DIR"] = str(cold_cache)
        cold = _uv_build(pkgs, 1000 + len(rows))
        os.environ.pop("UV_CACHE_DIR")
        shutil.rmtree(cold_cache, ignore_errors=True)
        _pip_build(pkgs, tmp / "pipwarm")  # warm pip's cache, as uv's is
        uv_t, pip_t = [], []
        for i in range(builds):
            uv_t.append(_uv_build(pkgs, 100 * len(rows) + i))
            pip_t.append(_pip_build(pkgs, tmp / f"pip{i}"))
        u, p = statistics.median(uv_t), statistics.median(pip_t)
        rows.append((f"build {label}: uv", f"{u:.2f} s", f"empty uv cache {cold:.2f} s",
                     f"{p / u:.1f}x faster than venv+pip"))
        rows.append((f"build {label}: venv + pip", f"{p:.2f} s",
                     f"min {min(pip_t):.2f} max {max(pip_t):.2f}", ""))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--builds", type=int, default=3)
    ap.add_argument("--skip-runs", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cumulus-bench-env-"))
    os.environ["CUMULUS_CACHE_DIR"] = str(tmp / "cache")
    rows = []
    try:
        if not args.skip_runs:
            rows += part_a(tmp, args.runs)
        rows += part_b(tmp, args.builds)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>9}  {r[2]:>26}  {r[3]}")


if __name__ == "__main__":
    main()
