"""Batch scoring throughput: a scikit-learn model over N small files on 2 nodes, Cumulus's
ParallelRunConfig (one run of 2 worker processes whose rank 0 merges; inputs from the
default datastore, done-markers, one output file) against a hand-written ``dask.bag`` map over
the same files on a 2-worker LocalCluster. Then the job is resubmitted to the same output:
every mini-batch must be skipped and the output must hold each input exactly once
(duplicates: goal 0).
Goal (issue #16): at least 0.8x the dask.bag throughput.

    .venv/bin/python benchmarks/bench_batch.py [--files 20000] [--mini-batch 500]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

ENTRY = """
import os
import pickle

import numpy as np

def init():
    global model
    with open(os.path.join(os.path.dirname(__file__), "model.pkl"), "rb") as fh:
        model = pickle.load(fh)

def run(mini_batch):
    rows = np.array([np.loadtxt(p, delimiter=",") for p in mini_batch])
    preds = model.predict(rows)
    return [f"{os.path.basename(p)} {int(y)}" for p, y in zip(mini_batch, preds)]
"""

_MODEL = None


def _score_partition(paths: list[str], model_path: str) -> list[str]:
    import numpy as np

    global _MODEL
    if _MODEL is None:
        with open(model_path, "rb") as fh:
            _MODEL = pickle.load(fh)
    rows = np.array([np.loadtxt(p, delimiter=",") for p in paths])
    preds = _MODEL.predict(rows)
    return [f"{os.path.basename(p)} {int(y)}" for p, y in zip(paths, preds, strict=True)]


def make_inputs(folder: Path, n: int, src: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    model = LogisticRegression().fit(X, (X.sum(axis=1) > 0).astype(int))
    src.mkdir(parents=True)
    with open(src / "model.pkl", "wb") as fh:
        pickle.dump(model, fh)
    (src / "batch_score.py").write_text(ENTRY)
    folder.mkdir(parents=True)
    for i, row in enumerate(rng.normal(size=(n, 4))):
        (folder / f"r{i:06d}.csv").write_text(",".join(f"{v:.5f}" for v in row))


def raw_dask(folder: Path, src: Path, mini_batch: int) -> tuple[float, int]:
    import dask.bag as db
    from distributed import Client, LocalCluster

    paths = sorted(str(p) for p in folder.iterdir())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        started = time.perf_counter()
        bag = db.from_sequence(paths, partition_size=mini_batch)
        lines = bag.map_partitions(_score_partition, str(src / "model.pkl")).compute()
        (folder.parent / "dask_out.txt").write_text("\n".join(lines) + "\n")
        return time.perf_counter() - started, len(lines)


def cumulus_batch(ws, src: Path, mini_batch: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    from cumulus import Experiment
    from cumulus.batch import ParallelRunConfig

    ds = ws.get_default_datastore()
    prc = ParallelRunConfig(entry_script="batch_score.py", source_directory=str(src),
                            mini_batch_size=str(mini_batch), error_threshold=0, node_count=2)
    started = time.perf_counter()
    run = Experiment(ws, "bench-batch").submit(prc, inputs=ds.path("rows"),
                                               output=ds.path("scores"))
    run.wait_for_completion(timeout=3600)
    return time.perf_counter() - started, run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--mini-batch", type=int, default=500)
    args = parser.parse_args()
    from cumulus import ComputeTarget, Workspace
    from cumulus.services import stop_services

    print(f"load average at start: {os.getloadavg()[0]:.2f}; {args.files} files, mini-batches "
          f"of {args.mini_batch}, 2 nodes")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_inputs(root / "rows", args.files, root / "src")
        raw_s, raw_rows = raw_dask(root / "rows", root / "src", args.mini_batch)
        print(f"dask.bag        {raw_s:7.2f} s  {raw_rows / raw_s:8.0f} files/s")
        ws = Workspace.create("bench-batch", path=root / "ws",
                              local_compute={"min_nodes": 2, "max_nodes": 2,
                                             "idle_seconds_before_scaledown": 120})
        try:
            ComputeTarget(ws, "local").wait_for_completion(timeout_in_minutes=3)
            ds = ws.get_default_datastore()
            started = time.perf_counter()
            ds.upload(src_dir=str(root / "rows"), target_path="rows", show_progress=False)
            print(f"(upload to the datastore, not timed below: "
                  f"{time.perf_counter() - started:.1f} s)")
            ours_s, _ = cumulus_batch(ws, root / "src", args.mini_batch)
            print(f"cumulus batch   {ours_s:7.2f} s  {args.files / ours_s:8.0f} files/s")
            again_raw, _ = raw_dask(root / "rows", root / "src", args.mini_batch)
            print(f"dask.bag again  {again_raw:7.2f} s  {raw_rows / again_raw:8.0f} files/s")
            best = min(raw_s, again_raw)
            print(f"ratio {best / ours_s:.2f}x dask.bag throughput (its best of two runs, "
                  f"one before and one after ours)")
            again_s, run = cumulus_batch(ws, root / "src", args.mini_batch)
            skipped = run.get_metrics().get("mini_batches_skipped", 0)  # type: ignore[attr-defined]
            ds.download(target_path=str(root / "out"), prefix="scores/parallel_run_step.txt",
                        show_progress=False)
            names = [line.split()[0] for line in
                     (root / "out" / "scores" / "parallel_run_step.txt").read_text().splitlines()]
            print(f"resubmitted     {again_s:7.2f} s  {skipped} mini-batches skipped; output rows "
                  f"{len(names)}, duplicates {len(names) - len(set(names))}, missing "
                  f"{args.files - len(set(names))}")
        finally:
            stop_services(ws)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
