"""Batch scoring: mini-batch planning (literals), bad input, and a real job over a datastore
folder on two workers, with a failing mini-batch, the error threshold and resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cumulus.batch import ParallelRunConfig
from cumulus.batch._work import plan
from cumulus.errors import ValidationError

ENTRY = """
import os

def init():
    global factor
    factor = int(os.environ.get("FACTOR", "2"))

def run(mini_batch):
    out = []
    for path in mini_batch:
        value = int(open(path).read())          # bad.txt holds "x": this mini-batch fails
        out.append(f"{os.path.basename(path)} {value * factor}")
    return out
"""


def test_plan_by_count_and_by_size() -> None:
    files = [(f"f{i}.txt", 10) for i in range(5)]
    assert plan(files, "2") == [["f0.txt", "f1.txt"], ["f2.txt", "f3.txt"], ["f4.txt"]]
    assert plan(files, 5) == [[f"f{i}.txt" for i in range(5)]]
    sized = [("a", 600), ("b", 600), ("c", 100), ("d", 2000)]
    assert plan(sized, "1KB") == [["a"], ["b", "c"], ["d"]]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mini_batch_size": "lots"}, "neither a number of files"),
    ({"output_action": "append"}, "output_action 'append' is not one of"),
    ({"error_threshold": -5}, "error_threshold must be -1"),
    ({"node_count": 0}, "node_count must be an int >= 1"),
])
def test_bad_configs_are_refused(kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError, match=message):
        ParallelRunConfig(entry_script="e.py", **kwargs)


def test_an_entry_script_without_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "e.py").write_text("def init():\n    pass\n")
    with pytest.raises(ValidationError, match=r"defines no run\(\)"):
        ParallelRunConfig(entry_script="e.py", source_directory=str(tmp_path)).validate()


@pytest.fixture
def batch_ws(tmp_path: Path) -> Iterator[object]:
    from cumulus import Workspace
    from cumulus.compute import list_targets
    from cumulus.flows import stop_services

    ws = Workspace.create("batch", path=tmp_path / "ws",
                          local_compute={"min_nodes": 0, "max_nodes": 2})
    yield ws
    stop_services(ws)
    for target in list_targets(ws).values():
        target.backend.stop()


@pytest.mark.integration
@pytest.mark.slow
def test_a_job_scores_every_file_once_and_resumes(batch_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cumulus import Experiment

    ws = batch_ws
    data = tmp_path / "numbers"
    data.mkdir()
    for i in range(22):
        (data / f"n{i:02d}.txt").write_text(str(i))
    (data / "bad.txt").write_text("x")
    ds = ws.get_default_datastore()  # type: ignore[attr-defined]
    ds.upload(src_dir=str(data), target_path="numbers", show_progress=False)
    src = tmp_path / "src"
    src.mkdir()
    (src / "batch_score.py").write_text(ENTRY)
    prc = ParallelRunConfig(entry_script="batch_score.py", source_directory=str(src),
                            mini_batch_size="5", error_threshold=0, node_count=2,
                            run_max_try=2)
    exp = Experiment(ws, "batch")  # type: ignore[arg-type]
    first = exp.submit(prc, inputs=ds.path("numbers"), output=ds.path("scores"))
    assert first.get_details()["kind"] == "batch"                  # one run, no pipeline
    details = first.wait_for_completion(timeout=300, raise_on_error=False)
    assert details["status"] == "Failed"
    log = first.get_log()
    assert "more than error_threshold=0" in log and "bad.txt" in log
    assert "[rank 0]" in log and "[rank 1]" in log                 # both workers scored
    assert not ds.exists("scores/parallel_run_step.txt")          # partial output apart
    assert ds.exists("scores/_batch/partial_parallel_run_step.txt")
    assert "attempt 2 failed: ValueError" in log

    (data / "bad.txt").write_text("100")                           # fix the input, resume
    ds.upload(src_dir=str(data), target_path="numbers", overwrite=True, show_progress=False)
    second = exp.submit(prc, inputs=ds.path("numbers"), output=ds.path("scores"))
    second.wait_for_completion(timeout=300)
    metrics = second.get_metrics()
    assert (metrics["mini_batches_scored"], metrics["mini_batches_skipped"]) == (1, 4)
    assert metrics["rows"] == metrics["inputs"] == 23              # only the failed one again
    local = tmp_path / "out"
    ds.download(target_path=str(local), prefix="scores/parallel_run_step.txt",
                show_progress=False)
    lines = (local / "scores" / "parallel_run_step.txt").read_text().splitlines()
    names = [line.split()[0] for line in lines]
    assert sorted(names) == sorted([f"n{i:02d}.txt" for i in range(22)] + ["bad.txt"])
    assert len(names) == len(set(names)) == 23                     # each input exactly once
    assert "bad.txt 200" in lines and "n21.txt 42" in lines


@pytest.mark.integration
@pytest.mark.slow
def test_cli_batch_scores_a_registered_model(batch_ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    import joblib
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from cumulus.models import Model

    ws = batch_ws
    X = np.arange(20, dtype=float).reshape(10, 2)
    joblib.dump(LinearRegression().fit(X, X.sum(axis=1)), tmp_path / "model.joblib")
    Model.register(ws, model_path=str(tmp_path / "model.joblib"), model_name="summer")
    rows = tmp_path / "rows"
    rows.mkdir()
    for i in range(3):
        np.savetxt(rows / f"part{i}.csv", [[i, 1.0], [i, 2.0]], delimiter=",")
    ds = ws.get_default_datastore()  # type: ignore[attr-defined]
    ds.upload(src_dir=str(rows), target_path="rows", show_progress=False)
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    proc = subprocess.run([sys.executable, "-m", "cumulus", "model", "batch-score", "summer:1",
                           "--input", "workspacestore:rows", "--output",
                           "workspacestore:summed", "--mini-batch-size", "2", "--follow"],
                          cwd=ws.root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    ds.download(target_path=str(out), prefix="summed/parallel_run_step.txt",
                show_progress=False)
    lines = sorted((out / "summed" / "parallel_run_step.txt").read_text().splitlines())
    assert len(lines) == 6
    assert lines[0].startswith("part0.csv:0 ") and abs(float(lines[0].split()[1]) - 1.0) < 1e-6
    bad = subprocess.run([sys.executable, "-m", "cumulus", "model", "batch-score", "summer",
                          "--input", "rows", "--output", "workspacestore:x"], cwd=ws.root,
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "DATASTORE:PATH" in bad.stderr


def test_submit_refuses_bad_data_and_options_before_recording(tmp_path: Path) -> None:
    from cumulus import Experiment, Workspace

    ws = Workspace.create("batch-refuse", path=tmp_path / "ws")
    (tmp_path / "e.py").write_text("def init():\n    pass\n\ndef run(b):\n    return b\n")
    prc = ParallelRunConfig(entry_script="e.py", source_directory=str(tmp_path))
    ds = ws.get_default_datastore()
    exp = Experiment(ws, "batch")
    with pytest.raises(ValidationError, match="inputs must be a datastore path"):
        exp.submit(prc, inputs="rows", output=ds.path("out"))
    with pytest.raises(ValidationError, match="output must be a folder on the datastore"):
        exp.submit(prc, inputs=ds.path("rows"), output=ds.path(""))
    with pytest.raises(ValidationError, match="not regenerate_outputs"):
        exp.submit(prc, inputs=ds.path("rows"), output=ds.path("out"), regenerate_outputs=True)
    with pytest.raises(ValidationError, match="priority must be an int"):
        exp.submit(prc, inputs=ds.path("rows"), output=ds.path("out"), priority="high")
    assert list(exp.get_runs()) == []                              # nothing recorded
