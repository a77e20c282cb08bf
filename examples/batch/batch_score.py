"""A batch-scoring entry script: init() once per worker process, run(mini_batch) per list of
input files (local paths), returning one row per input.

Used by the README's batch-scoring snippet; replace the body of run() with a model's
predictions (load the model in init())."""

import os


def init():
    global prefix
    prefix = os.environ.get("SCORE_PREFIX", "")


def run(mini_batch):
    rows = []
    for path in mini_batch:
        with open(path, errors="replace") as fh:
            words = len(fh.read().split())
        rows.append(f"{prefix}{os.path.basename(path)} {words}")
    return rows
