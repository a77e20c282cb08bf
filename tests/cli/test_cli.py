"""The `cumulus` command, run as a real subprocess like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CUMULUS = [sys.executable, "-m", "cumulus.cli._entry"]


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([*CUMULUS, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"cumulus {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def cli_ws(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("cliws")
    cli("init", cwd=root)
    yield root
    from cumulus import Workspace
    from cumulus.compute import ComputeTarget

    ComputeTarget(Workspace.from_config(root), "local").backend.stop()


@pytest.mark.integration
def test_init_run_list_metrics(cli_ws: Path) -> None:
    assert (cli_ws / "cumulus.yaml").exists()
    proc = cli("run", str(REPO / "examples/hello/train.py"), "--experiment", "hello",
               "--follow", "--", "--epochs", "3", cwd=cli_ws)
    assert "epoch 2" in proc.stdout and "finished: Completed" in proc.stdout
    listing = json.loads(cli("runs", "list", "--json", cwd=cli_ws).stdout)
    run_id = listing[0]["id"]
    assert listing[0]["status"] == "Completed" and listing[0]["experiment"] == "hello"
    metrics = json.loads(cli("runs", "metrics", run_id, "--json", cwd=cli_ws).stdout)
    assert len(metrics["loss"]) == 3
    shown = cli("runs", "show", run_id, cwd=cli_ws).stdout
    assert "outputs/model.json" in shown and "Completed" in shown
    assert "epoch 0" in cli("runs", "logs", run_id, cwd=cli_ws).stdout
    cli("runs", "download", run_id, "--prefix", "outputs/", "--dir", "dl", cwd=cli_ws)
    assert json.loads((cli_ws / "dl" / "outputs" / "model.json").read_text())["epochs"] == 3
    assert "runs list" in cli("runs", "list", cwd=cli_ws).stdout or run_id[:10] in \
        cli("runs", "list", cwd=cli_ws).stdout


def test_failed_run_exit_code(cli_ws: Path, tmp_path: Path) -> None:
    script = tmp_path / "fail.py"
    script.write_text("raise SystemExit(4)\n")
    proc = cli("run", str(script), "--follow", cwd=cli_ws, check=False)
    assert proc.returncode == 1 and "Failed" in proc.stderr


def test_errors_are_actionable(tmp_path: Path, cli_ws: Path) -> None:
    proc = cli("runs", "list", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "cumulus init" in proc.stderr
    proc = cli("runs", "show", "nope", cwd=cli_ws, check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    proc = cli("rnus", cwd=cli_ws, check=False)
    assert proc.returncode != 0 and "Did you mean 'runs'" in proc.stderr
    proc = cli("run", str(REPO / "examples/hello/train.py"), "--compute", "gpu", cwd=cli_ws,
               check=False)
    assert proc.returncode == 1 and "Compute target 'gpu' does not exist" in proc.stderr


def test_help_is_fast_to_import() -> None:
    code = ("import sys, cumulus.cli as c; c.cli.main(['runs','--help'], standalone_mode=False);"
            "print('HEAVY', [m for m in ('prefect','distributed','optuna') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")}).stdout
    assert "HEAVY []" in out
