"""The runnable examples, run as a user would (subprocesses in fresh workspaces)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _run(args: list[str], cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def _stop_targets(root: Path) -> None:
    from cumulus import Workspace
    from cumulus.compute import list_targets

    ws = Workspace.from_config(root)
    for target in list_targets(ws).values():
        target.backend.stop()


def test_datastore_example(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    try:
        out = _run([sys.executable, str(REPO / "examples/datastore/submit.py"),
                    "--workspace", str(ws)], cwd=tmp_path)
        assert "finished: Completed" in out
        assert "'downloaded_bytes': 1800" in out and "'mounted_bytes': 1800" in out
        assert "example/summary/summary.txt" in out
    finally:
        _stop_targets(ws)


def test_sweep_yaml_example(tmp_path: Path) -> None:
    cumulus = [sys.executable, "-m", "cumulus"]
    try:
        _run([*cumulus, "init"], cwd=tmp_path)
        out = _run([*cumulus, "sweep", "launch", str(REPO / "examples/sweep/sweep.yaml"),
                    "--follow"], cwd=tmp_path)
        assert "Completed" in out
        listing = _run([*cumulus, "runs", "list", "--json"], cwd=tmp_path)
        assert '"kind": "sweep"' in listing
    finally:
        _stop_targets(tmp_path)


def test_demo_smoke(tmp_path: Path) -> None:
    out = _run([sys.executable, "-m", "cumulus", "demo", "--smoke", "--path", "demo"],
               cwd=tmp_path)
    assert "Summary" in out and "Scored over HTTP" in out
    assert "stopped early" in out


def test_pipeline_example_reuses_steps(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    try:
        out = _run([sys.executable, str(REPO / "examples/pipelines/train_pipeline.py"),
                    "--workspace", str(ws)], cwd=tmp_path)
        assert "submission 2" in out and "reused run" in out
        assert "accuracy:" in out
    finally:
        _stop_everything(ws)


def test_azure_default_datastore_example(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    from azurite import Azurite, find_azurite

    if find_azurite() is None:
        if os.environ.get("CI"):
            pytest.fail("Azurite is not installed: run .ci/setup_datastores.sh")
        pytest.skip("Azurite is not installed (bash .ci/setup_datastores.sh)")
    ws = tmp_path / "ws"
    with Azurite() as azurite:
        azurite.create_container("examples")
        env_before = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
        try:
            out = _run([sys.executable, str(REPO / "examples/azure/blob_workspace.py"),
                        "--container", "examples", "--workspace", str(ws)], cwd=tmp_path)
        finally:
            if env_before is None:
                os.environ.pop("AZURE_STORAGE_CONNECTION_STRING", None)
            else:
                os.environ["AZURE_STORAGE_CONNECTION_STRING"] = env_before
            _stop_targets(ws)
        assert "finished: Completed" in out and '"epochs": 3' in out
        blobs = azurite.list_blobs("examples", prefix="cumulus/runs/")
        assert any(b.endswith("outputs/model.json") for b in blobs)
        assert azurite.connection_string.split("AccountKey=")[1].split(";")[0] not in out


def _stop_everything(root: Path) -> None:
    from cumulus import Workspace
    from cumulus.flows import stop_services

    _stop_targets(root)
    stop_services(Workspace.from_config(root))
