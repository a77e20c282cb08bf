"""Detection time (issue #17): from killing a part to the run being requeued or marked.

- a node (the worker process running a run) SIGKILLed -> the run requeued (status event);
- the compute manager (its whole process group) SIGKILLed while a client waits on a run ->
  the run running again on the restarted manager;
- a sweep controller SIGKILLed while a client waits on the sweep -> a new controller alive.
Goal: under 30 s each.

    .venv/bin/python benchmarks/bench_detection.py
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SLOW = "import time\nfor i in range(600):\n    time.sleep(0.1)\n"


def _event_time(store, run_id: str, needle: str, after: float) -> float | None:  # type: ignore[no-untyped-def]
    for e in store.status_events(run_id):
        t = e["time"].timestamp()
        if t >= after and needle in (e["reason"] or "") + " " + e["to_status"]:
            return float(t)
    return None


def _wait(predicate, timeout: float = 120.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("not detected within the timeout")
        time.sleep(0.05)
    return time.time()


def main() -> None:
    from cumulus import ComputeTarget, Experiment, ScriptRunConfig, Workspace
    from cumulus.services import stop_services
    from cumulus.sweeps import RandomSampling, Sweep, uniform

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ws = Workspace.create("bench-detect", path=root / "ws",
                              local_compute={"min_nodes": 1, "max_nodes": 2})
        (root / "src").mkdir()
        (root / "src" / "slow.py").write_text(SLOW)
        src = ScriptRunConfig(source_directory=str(root / "src"), script="slow.py")
        target = ComputeTarget(ws, "local")
        try:
            target.wait_for_completion(min_node_count=1)
            exp = Experiment(ws, "detect")
            # a node
            run = exp.submit(src)
            _wait(lambda: run.get_status() == "Running")
            node = int(str(ws.store.get_run(run.id)["node"]).rsplit(":", 1)[1])
            killed = time.time()
            os.kill(node, signal.SIGKILL)
            seen = _wait(lambda: _event_time(ws.store, run.id, "requeued", killed) is not None)
            print(f"node killed -> run requeued: {seen - killed:.2f} s")
            run.cancel()
            # the manager, with a client waiting
            run = exp.submit(src)
            _wait(lambda: run.get_status() == "Running")
            manager = int(ws.store.computes.get("local")["state"]["pid"])
            waiter = threading.Thread(target=lambda: run.wait_for_completion(
                raise_on_error=False, timeout=300), daemon=True)
            waiter.start()
            killed = time.time()
            os.killpg(os.getpgid(manager), signal.SIGKILL)
            seen = _wait(lambda: _event_time(ws.store, run.id, "Running", killed) is not None,
                         timeout=180)
            print(f"manager killed -> run running again (a client waiting): "
                  f"{seen - killed:.2f} s")
            run.cancel()
            # a sweep controller, with a client waiting
            srun = exp.submit(Sweep(src, RandomSampling({"--x": uniform(0, 1)}), "m",
                                    max_total_runs=2, max_concurrent_runs=2))
            _wait(lambda: "following the trials" in srun.get_log() or
                  srun.controller_status()["alive"])
            pid = srun.controller_status()["pid"]
            waiter = threading.Thread(target=lambda: srun.wait_for_completion(
                raise_on_error=False, timeout=300), daemon=True)
            waiter.start()
            killed = time.time()
            os.kill(pid, signal.SIGKILL)
            seen = _wait(lambda: srun.controller_status()["pid"] != pid and
                         srun.controller_status()["alive"], timeout=120)
            print(f"sweep controller killed -> resumed (a client waiting): "
                  f"{seen - killed:.2f} s")
            srun.cancel()
        finally:
            stop_services(ws)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
