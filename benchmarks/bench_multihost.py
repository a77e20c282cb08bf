"""Across two hosts (network namespaces with their own addresses and sshd, as the multi-host
tests build them; needs root): an ``ssh`` target's scale-up from 0 nodes to a first run
started, and dispatch of N trivial script runs across the 2 hosts against raw Dask launching
the same subprocesses on the same workers.

    sudo .venv/bin/python benchmarks/bench_multihost.py [--runs 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))


def _raw_launch(script: str) -> int:
    return subprocess.run([sys.executable, script], capture_output=True).returncode


def _wait_all(ws, runs) -> None:  # type: ignore[no-untyped-def]
    pending = {r.id for r in runs}
    while pending:
        statuses = ws.store.get_statuses(list(pending))
        pending = {k for k, v in statuses.items() if v not in ("Completed", "Failed", "Canceled")}
        time.sleep(0.05)
    bad = [r.id for r in runs if r.get_status() != "Completed"]
    assert not bad, bad[:3]


def main() -> None:
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.compute import ClusterConfig
    from hosts import TestHosts

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; 2 hosts, {args.runs} runs")
    with TestHosts(2) as hosts, tempfile.TemporaryDirectory() as tmp:
        first, second = hosts.addresses
        ws = Workspace.create("bench-hosts", path=Path(tmp) / "ws")
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "trivial.py").write_text("print('ok')\n")
        target = ComputeTarget.create(ws, "pair", ClusterConfig(
            backend="ssh", min_nodes=0, max_nodes=2, idle_seconds_before_scaledown=120,
            options={"hosts": [first, first, second], "connect_options": hosts.ssh_options,
                     "remote_python": sys.executable}))
        try:
            target.wait_for_completion(timeout_in_minutes=3)
            exp = Experiment(ws, "scale")
            t0 = time.perf_counter()
            run = exp.submit(ScriptRunConfig(source_directory=str(src), script="trivial.py",
                                             compute_target="pair"))
            while run.get_status() in ("Queued", "Preparing", "NotStarted"):
                time.sleep(0.02)
            print(f"ssh scale-up 0 -> first run started: {time.perf_counter() - t0:.2f} s")
            _wait_all(ws, [run])
            cfg = ScriptRunConfig(source_directory=str(src), script="trivial.py",
                                  compute_target="pair")
            target.update(min_nodes=2)
            target.wait_for_completion(min_node_count=2, timeout_in_minutes=3)
            t0 = time.perf_counter()
            runs = [exp.submit(cfg) for _ in range(args.runs)]
            _wait_all(ws, runs)
            ours = time.perf_counter() - t0
            client = target.backend.client()
            script = str(src / "trivial.py")
            t0 = time.perf_counter()
            futures = [client.submit(_raw_launch, script, pure=False) for _ in range(args.runs)]
            assert all(c == 0 for c in client.gather(futures))
            raw = time.perf_counter() - t0
            del futures
            print(f"dispatch {args.runs} trivial runs on 2 hosts: cumulus {ours:.2f} s, raw Dask "
                  f"{raw:.2f} s, ratio {ours / raw:.2f}x")
        finally:
            target.delete(force=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
