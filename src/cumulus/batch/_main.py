"""One process of a batch-scoring run: ``python -m cumulus.batch._main JOB``.

A batch job submitted on its own is one run with ``node_count`` nodes of
``process_count_per_node`` processes (the distributed-run machinery places them, streams
their logs and stops them together). Process ``RANK`` of ``WORLD_SIZE`` scores its share of
the mini-batches, then leaves a done-marker with its counts under
``<output>/_batch/workers/<run id>/``; rank 0 waits for every marker, merges the parts into
the output file and logs the job's totals as the run's metrics.
"""

from __future__ import annotations

import json
import os
import posixpath
import sys
import time
from typing import Any

from cumulus.batch._work import STATE, _listed, _write, input_files, merge, plan, score_share

WAIT_POLL = 0.3          # seconds between looks for the other workers' markers
WAIT_REPORT = 10.0       # seconds between "waiting for" lines


def _markers(ds: Any, folder: str, world: int) -> dict[int, dict[str, Any]]:
    found = {}
    for path in _listed(ds, folder):
        rank = posixpath.splitext(posixpath.basename(path))[0]
        if rank.isdigit() and int(rank) < world:
            with ds.fs.open(ds.full_path(path), "r") as fh:
                found[int(rank)] = json.loads(fh.read())
    return found


def _wait_for_workers(ds: Any, folder: str, world: int) -> dict[int, dict[str, Any]]:
    reported = time.monotonic()
    while True:
        found = _markers(ds, folder, world)
        if len(found) == world:
            return found
        if time.monotonic() - reported > WAIT_REPORT:
            waiting = sorted(set(range(world)) - set(found))
            print(f"[batch] rank 0 is waiting for worker(s) {waiting} to finish", flush=True)
            reported = time.monotonic()
        time.sleep(WAIT_POLL)


def main(job_text: str) -> int:
    from cumulus import Run, Workspace
    from cumulus.datastores import Datastore

    job = json.loads(job_text)
    config, inputs, output = job["config"], job["inputs"], job["output"]
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    run_id = os.environ.get("CUMULUS_RUN_ID", "local")
    ws = Workspace.from_config(os.environ["CUMULUS_WORKSPACE"])
    listing = input_files(ws, inputs)
    summary = score_share(ws, config, inputs, output, rank, world,
                          log=lambda line: print(line, flush=True), listing=listing)
    ds = Datastore.get(ws, output["datastore"])
    folder = posixpath.join(output["path"], STATE, "workers", run_id)
    _write(ds, posixpath.join(folder, f"{rank}.json"), json.dumps(summary))
    if rank != 0:
        return 0
    from cumulus.errors import CumulusError

    workers = _wait_for_workers(ds, folder, world)
    files = listing[2]
    run = Run.get_context()
    for key in ("scored", "skipped", "failed"):
        run.log(f"mini_batches_{key}", sum(int(w[key]) for w in workers.values()))
    try:
        merged = merge(ws, config, inputs, output, log=lambda line: print(line, flush=True),
                       planned=(len(files), plan(files, config["mini_batch_size"])))
    except CumulusError as exc:
        print(f"[batch] {exc}", flush=True)
        return 1
    run.log("rows", merged["rows"])
    run.log("inputs", merged["inputs"])
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
