"""`cumulus sweep ...` run as a real subprocess, in the shared workspace (its compute is warm)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CUMULUS = [sys.executable, "-m", "cumulus.cli._entry"]

TRAIN = """
import argparse
from cumulus import Run
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float)
p.add_argument("--layers", type=int)
p.add_argument("--epochs", type=int)
a = p.parse_args()
run = Run.get_context()
for epoch in range(a.epochs):
    run.log("loss", (a.lr - 0.1) ** 2 + 1.0 / (a.layers * (epoch + 1)))
"""

SWEEP = """
experiment: cli-sweep
tags: {origin: yaml}
run_config:
  source_directory: src
  script: train.py
  arguments: [--epochs, 3]
sampling:
  type: random
  seed: 5
  parameters:
    --lr: uniform(0.01, 0.3)
    --layers: choice(1, 2, 4)
primary_metric_name: loss
primary_metric_goal: minimize
policy: {type: truncation_selection, truncation_percentage: 20, delay_evaluation: 2}
max_total_runs: 4
max_concurrent_runs: 2
"""


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "160"}
    proc = subprocess.run([*CUMULUS, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=240)
    if check and proc.returncode != 0:
        raise AssertionError(f"cumulus {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def sweep_dir(workspace, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    folder = tmp_path / "job"
    (folder / "src").mkdir(parents=True)
    (folder / "src" / "train.py").write_text(TRAIN)
    (folder / "sweep.yaml").write_text(SWEEP)
    return folder


def test_launch_show_plot_from_yaml(workspace, sweep_dir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = workspace.root
    proc = cli("sweep", "launch", str(sweep_dir / "sweep.yaml"), "--follow", cwd=root)
    sweep_id = proc.stdout.strip().splitlines()[0]
    assert "finished: Completed" in proc.stdout and "rank" in proc.stdout

    shown = json.loads(cli("sweep", "show", sweep_id, "--json", cwd=root).stdout)
    assert shown["status"] == "Completed" and shown["experiment"] == "cli-sweep"
    assert shown["primary_metric_goal"] == "minimize" and shown["progress"]["issued"] == 4
    losses = [t["best_primary_metric"] for t in shown["trials"]]
    assert len(losses) == 4 and losses == sorted(losses)  # sorted best (lowest) first
    assert set(shown["trials"][0]["hyperparameters"]) == {"--lr", "--layers"}

    table = cli("sweep", "show", sweep_id, cwd=root).stdout
    assert sweep_id in table and "loss (best)" in table and "--layers" in table
    png = tmp_path / "plot.png"
    cli("sweep", "plot", sweep_id, "-o", str(png), cwd=root)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000

    listed = json.loads(cli("sweep", "list", "--json", cwd=root).stdout)
    assert sweep_id in [s["id"] for s in listed]
    runs = json.loads(cli("runs", "list", "--json", "-e", "cli-sweep", cwd=root).stdout)
    assert [r["kind"] for r in runs] == ["sweep"]
    again = cli("sweep", "resume", sweep_id, cwd=root, check=False)
    assert again.returncode == 1 and "already ended" in again.stderr


def test_bad_yaml_fails_before_any_trial(workspace, sweep_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from cumulus.sweeps import _state

    before = len(_state.list_ids(workspace.store))
    grid = SWEEP.replace("type: random\n  seed: 5\n  parameters:\n    --lr: uniform(0.01, 0.3)"
                         "\n    --layers: choice(1, 2, 4)",
                         "type: grid\n  parameters:\n    --lr: uniform(0.01, 0.3)")
    assert grid != SWEEP
    bad = sweep_dir / "bad.yaml"
    for content, message in [
            (grid, "bad.yaml: GridSampling enumerates choice()"),
            (SWEEP.replace("max_concurrent_runs: 2", "max_concurrent_runs: 0"),
             "bad.yaml: max_concurrent_runs must be an int >= 1 (or None), got 0"),
            (SWEEP.replace("script: train.py", "script: trian.py"),
             "run_config: script 'trian.py' not found")]:
        bad.write_text(content)
        proc = cli("sweep", "launch", str(bad), cwd=workspace.root, check=False)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert len(_state.list_ids(workspace.store)) == before
