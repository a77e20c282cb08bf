"""Cumulus studio's API against MLflow's tracking server on the same data: 10,000 runs x 5
metrics x 100 points (5 M metric rows) in SQLite, both served over HTTP on 127.0.0.1 (one
process each), timed from the client (median of 7 after a warm-up; MLflow's comparison: of 3):

- the runs table's first page (50 runs, newest first) and sorted by a metric,
- a 100-run comparison with every point of the 5 metrics (MLflow: what its compare view asks
  for, ``get-history-bulk-interval`` per metric with the 100 run ids).

MLflow is installed with uv into its own virtual environment under benchmarks/_work/ (see
bench_scoring_mlflow.py); its store is created by MLflow itself (schema and one template run
through its own store API), then filled by cloning that run's rows in bulk, so the data match
Cumulus's run for run and point for point.

    .venv/bin/python benchmarks/bench_ui_mlflow.py [--runs 10000] [--points 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring_mlflow as bm
import bench_ui
import bench_ui_live

BUILD = r'''
import json, sqlite3, sys, time, uuid
from mlflow.entities import Metric, Param
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

db, runs, points, art = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
store = SqlAlchemyStore(f"sqlite:///{db}", art)
exp = store.create_experiment("big")
t0 = int(time.time() * 1000)
tpl = store.create_run(exp, user_id="bench", start_time=t0, tags=[], run_name="template")
tid = tpl.info.run_id
store.log_batch(tid, metrics=[Metric("m0", 0.5, t0, 0)], params=[Param("--lr", "0.1")], tags=[])
con = sqlite3.connect(db)

def template(table):
    cols = [c[1] for c in con.execute(f"PRAGMA table_info({table})")]
    row = con.execute(f"SELECT * FROM {table} WHERE run_uuid=? LIMIT 1", (tid,)).fetchone()
    return cols, dict(zip(cols, row))

def insert(table, cols, rows):
    con.executemany(f"INSERT INTO {table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                    ([r[c] for c in cols] for r in rows))

rcols, rtpl = template("runs")
mcols, mtpl = template("metrics")
lcols, ltpl = template("latest_metrics")
pcols, ptpl = template("params")
ids = []
for i in range(runs):
    rid = uuid.uuid4().hex
    ids.append(rid)
    run = dict(rtpl, run_uuid=rid, name=f"run{i}", start_time=t0 + i, end_time=t0 + i + 1,
               status="FINISHED")
    if "artifact_uri" in run:
        run["artifact_uri"] = f"{art}/{rid}"
    insert("runs", rcols, [run])
    insert("params", pcols, [dict(ptpl, run_uuid=rid, key="--lr", value=str(10 ** -(i % 5))),
                             dict(ptpl, run_uuid=rid, key="--batch", value=str(16 * (1 + i % 4)))])
    ms, latest = [], []
    for k in range(5):
        for s in range(points):
            v = float((i * 7 + k * 13 + s) % 1000) / 1000.0
            ms.append(dict(mtpl, run_uuid=rid, key=f"m{k}", value=v, timestamp=t0 + s, step=s,
                           is_nan=False))
        latest.append(dict(ltpl, run_uuid=rid, key=f"m{k}", value=v, timestamp=t0 + points - 1,
                           step=points - 1, is_nan=False))
    insert("metrics", mcols, ms)
    insert("latest_metrics", lcols, latest)
    if i % 1000 == 999:
        con.commit()
for table in ("metrics", "latest_metrics", "params", "tags"):
    con.execute(f"DELETE FROM {table} WHERE run_uuid=?", (tid,))
con.execute("DELETE FROM runs WHERE run_uuid=?", (tid,))
con.commit()
print(json.dumps({"experiment_id": exp, "ids": ids[-100:]}))
'''


def _median_ms(fn: Any, n: int = 7, label: str = "") -> float:
    fn()                    # warm up (first requests pay imports and connection setup)
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    median = statistics.median(times) * 1000
    print(f"  {label}: median {median:.0f} ms of {n}", flush=True)
    return median


def _ok(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text[:500]
    return resp


def mlflow_times(root: Path, runs: int, points: int) -> dict[str, float]:
    import httpx

    bm.ensure_mlflow()
    db, art = root / "mlflow.db", root / "mlartifacts"
    started = time.perf_counter()
    out = subprocess.run([str(bm.MLFLOW_PY), "-c", BUILD, str(db), str(runs), str(points),
                          str(art)], capture_output=True, text=True, timeout=3600)
    assert out.returncode == 0, out.stderr[-3000:]
    built = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"MLflow store built in {time.perf_counter() - started:.0f} s", flush=True)
    port = bench_ui_live._free_port()
    proc = subprocess.Popen(
        [str(bm.VENV / "bin" / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{db}",
         "--default-artifact-root", str(art), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PATH": f"{bm.VENV / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as c:
            for _ in range(600):
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            exp, ids = built["experiment_id"], built["ids"]

            def search(order: str) -> None:
                body = _ok(c.post("/api/2.0/mlflow/runs/search", json={
                    "experiment_ids": [exp], "max_results": 50, "order_by": [order]})).json()
                assert len(body["runs"]) == 50

            def compare() -> None:
                got = 0
                for k in range(5):
                    body = _ok(c.get("/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                                     params=[("run_ids", i) for i in ids] + [
                                         ("metric_key", f"m{k}"),
                                         ("max_results", str(points))])).json()
                    got += len(body.get("metrics", []))
                assert got == 100 * 5 * points, got

            return {"first": _median_ms(lambda: search("attributes.start_time DESC"),
                                        label="mlflow first page"),
                    "by_metric": _median_ms(lambda: search("metrics.m1 DESC"),
                                            label="mlflow by metric"),
                    "compare": _median_ms(compare, 3, label="mlflow compare")}
    finally:
        import psutil

        family = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        proc.terminate()
        proc.wait(30)
        for pid in family:       # its uvicorn workers and job runners too
            try:
                psutil.Process(pid).kill()
            except psutil.Error:
                pass


def cumulus_times(root: Path, runs: int, points: int) -> dict[str, float]:
    import httpx

    ws, ids = bench_ui.build(root / "ws", runs, points)
    proc, url = bench_ui_live._serve(ws.root)  # type: ignore[attr-defined]
    base = url.split("/?")[0]
    try:
        with httpx.Client(base_url=base, timeout=120) as c:
            return {
                "first": _median_ms(lambda: _ok(c.get("/api/v1/runs?limit=50&experiment=big")),
                                    label="cumulus first page"),
                "by_metric": _median_ms(lambda: _ok(c.get(
                    "/api/v1/runs?limit=50&experiment=big&sort=-metric:m1")),
                    label="cumulus by metric"),
                "compare": _median_ms(lambda: _ok(c.get(
                    f"/api/v1/compare?max_points={points}&ids=" + ",".join(ids[-100:]))),
                    label="cumulus compare")}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=100)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.runs} runs x 5 metrics x "
          f"{args.points} points", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ours = cumulus_times(Path(tmp), args.runs, args.points)
        theirs = mlflow_times(Path(tmp), args.runs, args.points)
    for key, label in (("first", "runs table, first page (newest first)"),
                       ("by_metric", "runs table, first page sorted by a metric"),
                       ("compare", "100-run comparison, every point of 5 metrics")):
        print(f"{label:46s} cumulus {ours[key]:7.0f} ms   mlflow {theirs[key]:7.0f} ms   "
              f"mlflow/cumulus {theirs[key] / ours[key]:.1f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
