"""Triggered pipeline runs: from ``POST /deployments/<id>/create_flow_run`` to the flow run's
Completed state, for a published 1-step trivial pipeline served by ``cumulus schedule serve``
(Prefect's Runner executing Cumulus's entry flow, which records and runs the pipeline), against
raw Prefect: the same Runner class serving a deployment of a trivial flow (``return 1``) on the
same Prefect server. Both start one ``python -m prefect.engine`` process per flow run; the
difference is what Cumulus does in it (record, prepare, run the step on the compute target).

    .venv/bin/python benchmarks/bench_triggered.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from cumulus.flows import Output, pipeline, step

RAW_FLOW = '''
from prefect import flow


@flow(name="raw-trivial", persist_result=False)
def trivial(pipeline_parameters=None):
    return 1
'''


@step
def one(out: Output) -> None:
    Path(out, "x.txt").write_text("1")


@pipeline(name="triggered")
def triggered():  # type: ignore[no-untyped-def]
    one()


def _post_and_wait(api: str, deployment: str, timeout: float = 300) -> float:
    import httpx

    started = time.perf_counter()
    for attempt in range(8):
        resp = httpx.post(f"{api}/deployments/{deployment}/create_flow_run", json={}, timeout=30)
        if resp.status_code != 503:
            break
        time.sleep(0.5 * (attempt + 1))
    resp.raise_for_status()
    flow_run = resp.json()["id"]
    while time.perf_counter() - started < timeout:
        state = httpx.get(f"{api}/flow_runs/{flow_run}", timeout=30).json()["state"]["type"]
        if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            if state != "COMPLETED":
                raise SystemExit(f"flow run {flow_run} ended {state}")
            return time.perf_counter() - started
        time.sleep(0.05)
    raise SystemExit(f"flow run {flow_run} did not finish within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from cumulus import Workspace
    from cumulus.flows import PublishedPipeline
    from cumulus.flows._prefect import resolve_api
    from cumulus.flows._serve import PrefectRunner, serve

    with tempfile.TemporaryDirectory(prefix="cumulus-bench-trig-") as tmp:
        ws = Workspace.create("trig", path=Path(tmp, "ws"))
        Path(tmp, "raw_trivial_flow.py").write_text(RAW_FLOW)
        sys.path.insert(0, tmp)           # the runner resolves the flow for its hooks, too
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [tmp, *filter(None, [os.environ.get("PYTHONPATH")])])
        api = resolve_api(ws, start=True)
        assert api
        stop = threading.Event()
        thread = threading.Thread(target=serve, args=(ws,), daemon=True, kwargs={
            "stop": stop, "poll_interval": 1.0, "out": lambda _line: None})
        thread.start()
        pub = triggered.publish(ws, "trig")
        while not PublishedPipeline.get(ws, "trig").deployment_id:
            time.sleep(0.2)
        time.sleep(2.0)                   # the serve loop has added it to its Runner
        ours_dep = str(PublishedPipeline.get(ws, "trig").deployment_id)

        from prefect.deployments.runner import RunnerDeployment

        raw = PrefectRunner(api, "bench raw", poll_interval=1.0)
        raw.start()
        raw_dep = raw.add(RunnerDeployment(name="raw-trivial", flow_name="raw-trivial",
                                           entrypoint="raw_trivial_flow.trivial",
                                           enforce_parameter_schema=False))
        _post_and_wait(api, ours_dep)     # warm: the compute target's node, imports on disk
        _post_and_wait(api, raw_dep)
        ours: list[float] = []
        raw_times: list[float] = []
        for _ in range(args.repeats):     # interleaved
            ours.append(_post_and_wait(api, ours_dep))
            raw_times.append(_post_and_wait(api, raw_dep))
        raw.stop()
        stop.set()
        thread.join(60)
        pub.delete()
        from cumulus.services import stop_services

        stop_services(ws)
    load = os.getloadavg()[0]
    o, r = statistics.median(ours), statistics.median(raw_times)
    print(f"create_flow_run -> Completed, median of {args.repeats} (load {load:.1f}):")
    print(f"  cumulus published pipeline (1 step): {o:.2f} s  {_fmt(ours)}")
    print(f"  raw Prefect Runner, trivial flow:    {r:.2f} s  {_fmt(raw_times)}")
    print(f"  ratio: {o / r:.2f}x  (difference {o - r:.2f} s)")


def _fmt(values: list[Any]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    main()
