"""Container environments: a run's cost in a cached image, a new image, and without containers.

A private dockerd (``tests/dockerd.py``, as ``../shared/PLATFORM.md`` describes) with a local
Debian bookworm + python3 base image, unless ``--docker-host`` names an engine that has
``--base-image``.

Part A (end to end, the local compute target with one warm node, ``--runs`` interleaved rounds,
medians): submit -> Completed of a trivial script that imports ``six`` if present, for no
environment, a cached virtualenv, a cached image (the base image as is, no pip), a cached image
with a pip layer, and a new image with a pip layer (a distinct build hash every round:
uv ``--target`` + ``docker build``).

Part B (no run, ``--launches`` rounds): ``docker run --rm`` through the SDK of ``python3 -c
pass`` against the same container started by the Cumulus launcher process
(``python -m cumulus.tasks.containers SPEC``, the command the executor runs), which adds a
Python start, the docker SDK import and log streaming.

Run: ``.venv/bin/python benchmarks/bench_env_container.py [--runs 5] [--launches 7]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "try:\n    import six\nexcept ImportError:\n    six = None\nprint('six', six)\n"


def _engine(args: argparse.Namespace) -> tuple[object | None, str]:
    if args.docker_host:
        os.environ["CUMULUS_DOCKER_HOST"] = args.docker_host
        return None, args.base_image
    sys.path.insert(0, str(REPO / "tests"))
    from dockerd import ensure_base_image, start_engine

    engine = start_engine()
    image = ensure_base_image(engine.client)
    os.environ["CUMULUS_DOCKER_HOST"] = engine.url
    return engine, image


def _timed_run(ws: object, src: Path, env: object) -> float:
    from cumulus import Experiment, ScriptRunConfig

    cfg = ScriptRunConfig(source_directory=src, script="s.py", environment=env)
    t0 = time.perf_counter()
    run = Experiment(ws, "bench-container").submit(cfg)  # type: ignore[arg-type]
    store = ws.store  # type: ignore[attr-defined]
    while store.get_status(run.id) not in ("Completed", "Failed", "Canceled"):
        time.sleep(0.01)
    took = time.perf_counter() - t0
    assert run.get_status() == "Completed", run.get_log()
    return took


def part_a(tmp: Path, image: str, runs: int) -> list[tuple[str, str, str, str]]:
    from cumulus import Environment, Workspace
    from cumulus.compute import ComputeTarget

    src = tmp / "src"
    src.mkdir()
    (src / "s.py").write_text(SCRIPT)
    ws = Workspace.create("benchbox", path=tmp / "ws",
                          local_compute={"min_nodes": 1, "max_nodes": 1})
    ComputeTarget(ws, "local").wait_for_completion(min_node_count=1)
    kinds = {"no environment (worker python)": None,
             "cached virtualenv": Environment("v", pip=["six==1.16.0"]),
             "cached image, no pip": Environment("i", image=image),
             "cached image + pip layer": Environment("ip", image=image, pip=["six==1.16.0"])}
    times: dict[str, list[float]] = {k: [] for k in [*kinds, "new image + pip layer"]}
    try:
        for env in kinds.values():
            _timed_run(ws, src, env)  # build and warm
        for i in range(runs):
            for label, env in kinds.items():
                times[label].append(_timed_run(ws, src, env))
            fresh = Environment("new", image=image, pip=["six==1.16.0", f"six!=0.0.{i}"])
            times["new image + pip layer"].append(_timed_run(ws, src, fresh))
    finally:
        ComputeTarget(ws, "local").backend.stop()
    base = statistics.median(times["no environment (worker python)"])
    rows = []
    for label, values in times.items():
        med = statistics.median(values)
        rows.append((f"run, {label}", f"{med:.3f} s",
                     f"min {min(values):.3f} max {max(values):.3f}",
                     "" if med == base else f"+{med - base:.3f} s"))
    return rows


def part_b(tmp: Path, image: str, launches: int) -> list[tuple[str, str, str, str]]:
    from cumulus.tasks.containers import docker_client

    client = docker_client()
    spec = {"image": image, "command": ["python3", "-c", "pass"], "working_dir": str(tmp),
            "environment": {}, "mounts": [[str(tmp), str(tmp), "rw"]], "user": "0:0",
            "limits": {}, "labels": {"cumulus.run_id": "bench"}, "name": "cumulus-bench"}
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    raw, ours = [], []
    for _ in range(launches):
        t0 = time.perf_counter()
        client.containers.run(image, ["python3", "-c", "pass"], remove=True,
                              network_mode="host", init=True,
                              volumes={str(tmp): {"bind": str(tmp), "mode": "rw"}})
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cumulus.tasks.containers", str(path)],
                       check=True, env=env, capture_output=True)
        ours.append(time.perf_counter() - t0)
    r, o = statistics.median(raw), statistics.median(ours)
    return [("docker run --rm (SDK), python3 -c pass", f"{r:.3f} s",
             f"min {min(raw):.3f} max {max(raw):.3f}", ""),
            ("same through the Cumulus launcher", f"{o:.3f} s",
             f"min {min(ours):.3f} max {max(ours):.3f}", f"+{o - r:.3f} s ({o / r:.2f}x)")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--launches", type=int, default=7)
    ap.add_argument("--skip-runs", action="store_true")
    ap.add_argument("--docker-host", default=None)
    ap.add_argument("--base-image", default="cumulus-python:3.11")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cumulus-bench-box-"))
    os.environ["CUMULUS_CACHE_DIR"] = str(tmp / "cache")
    engine, image = _engine(args)
    rows = []
    try:
        rows += part_b(tmp, image, args.launches)
        if not args.skip_runs:
            rows += part_a(tmp, image, args.runs)
    finally:
        if engine is not None:
            engine.close()  # type: ignore[attr-defined]
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>9}  {r[2]:>26}  {r[3]}")


if __name__ == "__main__":
    main()
