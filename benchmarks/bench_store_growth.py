"""Store growth: what a submit and `runs list` cost with 100 runs, and with 100,000 runs and
10 M metric rows in the store (SQLite and PostgreSQL). Goal: at most 1.2x.

Measured through the store's own API, the calls a submit and the CLI make:
- submit: ``create_run`` + the executor's claim and start (two ``try_transition``) + a
  ``get_run`` (what ``Experiment.submit`` and a node do to one run);
- runs list: ``list_experiments`` + ``list_runs(top_level=True, limit=50)`` (what
  `cumulus runs list` reads);
- metrics of one run: ``get_metric_rows`` (what `run.get_metrics()` reads).

The bulk rows are written with the database's bulk path (executemany; COPY for PostgreSQL).

Run: .venv/bin/python benchmarks/bench_store_growth.py [--runs 100000] [--metrics 10000000]
     [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from cumulus.store import Store
from cumulus.store import models as m

BATCH = 50_000


def _median_ms(fn: Any, n: int) -> float:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


class Probe:
    """The calls measured, against one store."""

    def __init__(self, store: Store, exp_id: int, tag: str) -> None:
        self.store, self.exp_id, self.tag = store, exp_id, tag
        self.sample_run = ""

    def submit(self, i: int) -> None:
        run_id = f"probe-{self.tag}-{i}-{time.monotonic_ns()}"
        self.store.create_run(run_id=run_id, experiment_id=self.exp_id, kind="script",
                              definition={"type": "script", "script": "t.py"},
                              compute_target="local", reason="submitted")
        self.store.try_transition(run_id, "Preparing", expected=["Queued"], node="n:1")
        self.store.try_transition(run_id, "Running", expected=["Preparing"])
        self.store.get_run(run_id)

    def runs_list(self, _: int) -> None:
        self.store.list_experiments()
        rows = self.store.list_runs(top_level=True, limit=50)
        assert len(rows) == 50 or len(rows) < 50

    def metrics(self, _: int) -> None:
        rows = self.store.get_metric_rows([self.sample_run], None)
        assert rows, "the sample run has metrics"

    def measure(self) -> dict[str, float]:
        return {"submit": _median_ms(self.submit, 60),
                "runs list": _median_ms(self.runs_list, 30),
                "metrics of one run": _median_ms(self.metrics, 30)}


def _fill(store: Store, exp_id: int, runs: int, metrics: int, prefix: str) -> str:
    """Bulk-write ``runs`` Completed runs and ``metrics`` metric rows spread over them."""
    from datetime import datetime, timedelta, timezone

    t0 = time.perf_counter()
    base = datetime.now(timezone.utc) - timedelta(days=30)
    per_run = max(1, metrics // max(1, runs))
    ids = [f"{prefix}-{i:07d}" for i in range(runs)]
    with store.engine.begin() as conn:
        for start in range(0, runs, BATCH):
            rows = [{"id": rid, "experiment_id": exp_id, "kind": "script",
                     "display_name": "train.py", "status": "Completed",
                     "created_at": base + timedelta(seconds=start + j),
                     "status_changed_at": base + timedelta(seconds=start + j),
                     "compute_target": "local", "attempt": 1, "params": {}, "tags": {},
                     "properties": {}, "definition": {"type": "script", "script": "t.py"}}
                    for j, rid in enumerate(ids[start:start + BATCH])]
            conn.execute(insert(m.Run), rows)
    _fill_metrics(store, ids, per_run, metrics)
    print(f"  wrote {runs:,} runs and {metrics:,} metric rows in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    return ids[len(ids) // 2]


def _fill_metrics(store: Store, ids: list[str], per_run: int, total: int) -> None:
    now = time.time()
    if store.dialect == "postgresql":
        raw = store.engine.raw_connection()
        try:
            cur = raw.cursor()
            with cur.copy("COPY metrics (run_id, name, kind, step, value, time, attempt) "
                          "FROM STDIN") as copy:
                written = 0
                for rid in ids:
                    for step in range(per_run):
                        copy.write_row((rid, "loss", "scalar", step, 1.0 / (step + 1), now, 1))
                        written += 1
                        if written >= total:
                            break
                    if written >= total:
                        break
            raw.commit()
        finally:
            raw.close()
        return
    with store.engine.begin() as conn:
        batch: list[dict[str, Any]] = []
        written = 0
        for rid in ids:
            for step in range(per_run):
                batch.append({"run_id": rid, "name": "loss", "kind": "scalar", "step": step,
                              "value": 1.0 / (step + 1), "time": now, "attempt": 1})
                written += 1
                if len(batch) >= BATCH:
                    conn.execute(insert(m.Metric), batch)
                    batch = []
            if written >= total:
                break
        if batch:
            conn.execute(insert(m.Metric), batch)


def bench(url: str, runs: int, metrics: int) -> dict[str, tuple[float, float]]:
    store = Store(url)
    exp_id = int(store.get_or_create_experiment("growth")["id"])
    small = Probe(store, exp_id, "small")
    small.sample_run = _fill(store, exp_id, 100, 100 * 100, "small")
    before = small.measure()
    _fill(store, exp_id, runs, metrics, "big")
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    big = Probe(store, exp_id, "big")
    big.sample_run = small.sample_run          # the same run, now among 100,000
    after = big.measure()
    return {k: (before[k], after[k]) for k in before}


def _pg_database(url: str, name: str) -> str:
    """A fresh database ``name`` on the server of ``url`` (dropped first if present)."""
    from sqlalchemy import create_engine

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


def _drop_pg(url: str, name: str) -> None:
    from sqlalchemy import create_engine

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--metrics", type=int, default=10_000_000)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
    if not args.no_sqlite:
        tmp = Path(tempfile.mkdtemp(prefix="cumulus-growth-"))
        print("SQLite:", flush=True)
        results["sqlite"] = bench(f"sqlite:///{tmp / 'store.db'}", args.runs, args.metrics)
    if args.pg:
        name = "cumulus_bench_growth"
        print("PostgreSQL:", flush=True)
        try:
            results["postgresql"] = bench(_pg_database(args.pg, name), args.runs, args.metrics)
        finally:
            _drop_pg(args.pg, name)
    print(f"\n{'store':<11} {'call':<20} {'100 runs':>10} {f'{args.runs:,} runs':>14} "
          f"{'ratio':>7}  (goal <= 1.2x; median ms)")
    for store, rows in results.items():
        for call, (small, big) in rows.items():
            print(f"{store:<11} {call:<20} {small:>10.2f} {big:>14.2f} {big / small:>6.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
