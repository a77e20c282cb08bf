"""Cumulus studio's API on a large store: 10,000 runs x 5 metrics x 100 points (5 M metric rows,
SQLite). Measures server time of the runs table's first page (sorted by creation and by a
metric, with the latest metrics) and of a 100-run comparison; goal: under 300 ms each.

    .venv/bin/python benchmarks/bench_ui.py [--runs 10000] [--points 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def build(root: Path, runs: int, points: int) -> object:
    from cumulus import Workspace

    ws = Workspace.create("bench-ui", path=root)
    store = ws.store
    exp = store.get_or_create_experiment("big")["id"]
    started = time.perf_counter()
    ids = []
    for i in range(runs):
        rid = f"big_{i:06d}_{uuid.uuid4().hex[:6]}"
        store.create_run(run_id=rid, experiment_id=exp, status="Completed",
                         params={"--lr": 10 ** -(i % 5), "--batch": 16 * (1 + i % 4)},
                         display_name="train.py")
        ids.append(rid)
    rows = ((rid, f"m{k}", "scalar", s, float((i * 7 + k * 13 + s) % 1000) / 1000.0, None,
             time.time()) for i, rid in enumerate(ids) for k in range(5) for s in range(points))
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= 50_000:
            store.insert_metric_tuples(batch)
            batch.clear()
    if batch:
        store.insert_metric_tuples(batch)
    print(f"built {runs} runs x 5 metrics x {points} points in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return ws, ids


def timed(client: object, url: str, n: int = 7) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        resp = client.get(url)  # type: ignore[attr-defined]
        assert resp.status_code == 200, resp.text
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from cumulus.ui import create_app

    with tempfile.TemporaryDirectory() as tmp:
        ws, ids = build(Path(tmp), args.runs, args.points)
        client = TestClient(create_app(ws, token="t"))  # in-process: server time only
        first = timed(client, "/api/v1/runs?limit=50&experiment=big")
        by_metric = timed(client, "/api/v1/runs?limit=50&experiment=big&sort=-metric:m1")
        compare = timed(client, "/api/v1/compare?max_points=100&ids=" + ",".join(ids[:100]))
        load = os.getloadavg()[0]
        print(f"runs table, first page (-created): {first:.0f} ms")
        print(f"runs table, first page (-metric:m1): {by_metric:.0f} ms")
        print(f"100-run comparison: {compare:.0f} ms")
        print(f"goal: 300 ms each; load average {load:.1f}")


if __name__ == "__main__":
    main()
