"""Shared helpers of the compute benchmarks (not a benchmark itself).

Times come from the cumulus scheduler plugin's events (topic ``cumulus``: ``run-queued``,
``node-added``, ``node-idle``, ``node-release``, ``node-removed``, ``run-placed``), stamped
on the scheduler with the wall clock, and from the run store.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cumulus import Experiment, ScriptRunConfig, Workspace
from cumulus.compute import ClusterConfig, ComputeTarget

SLEEP = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"
LEDGER = ("import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
          "os.write(fd, (os.environ['CUMULUS_RUN_ID'] + '\\n').encode())\nos.close(fd)\n")


@contextmanager
def bench_workspace(name: str) -> Iterator[tuple[Workspace, Path]]:
    """A throw-away workspace and source folder; every target is deleted at the end."""
    root = Path(tempfile.mkdtemp(prefix=f"cumulus-{name}-"))
    src = root / "src"
    src.mkdir()
    (src / "sleep.py").write_text(SLEEP)
    (src / "ledger.py").write_text(LEDGER)
    ws = Workspace.create(name, path=root / "ws")
    try:
        yield ws, src
    finally:
        for target in ws.compute_targets.values():
            try:
                target.delete(force=True)
            except Exception as exc:  # keep cleaning up
                print(f"cleanup of {target.name}: {exc}")
        shutil.rmtree(root, ignore_errors=True)


def make_target(ws: Workspace, name: str, **cfg: Any) -> ComputeTarget:
    target = ComputeTarget.create(ws, name, ClusterConfig(**cfg))
    target.wait_for_completion(min_node_count=cfg.get("min_nodes") or None,
                               timeout_in_minutes=3)
    return target


def sleep_run(src: Path, target: str, seconds: float) -> ScriptRunConfig:
    return ScriptRunConfig(source_directory=str(src), script="sleep.py",
                           arguments=[str(seconds)], compute_target=target)


def submit(ws: Workspace, cfg: ScriptRunConfig, n: int = 1) -> list[Any]:
    exp = Experiment(ws, "bench")
    return [exp.submit(cfg) for _ in range(n)]


def events(target: ComputeTarget, since: float = 0.0) -> list[dict[str, Any]]:
    client = target.backend.client()
    return [e for _, e in client.get_events("cumulus") if e["time"] >= since]


def wait(predicate: Callable[[], Any], timeout: float = 300, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(str(predicate))
        time.sleep(poll)


def nodes_now(target: ComputeTarget) -> int:
    """Joined nodes, straight from the scheduler (no reporting lag)."""
    client = target.backend.client()
    return len(client.scheduler_info(n_workers=-1)["workers"])


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else \
        [values[0]] * 3
    return (f"min {min(values):.2f}  p25 {q[0]:.2f}  median {statistics.median(values):.2f}  "
            f"p75 {q[2]:.2f}  max {max(values):.2f}  (n={len(values)})")


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
             for r in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


if __name__ == "__main__":
    print(__doc__)
