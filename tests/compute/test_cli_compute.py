"""``cumulus compute``, run as a real subprocess like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _compute_helpers import stop_all, wait_until

from cumulus import Workspace
from cumulus.compute import ComputeTarget

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=240)
    if ok and proc.returncode != 0:
        raise AssertionError(f"cumulus {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def cli_root(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("cli_compute")
    ws = Workspace.create("clicompute", path=root)
    yield root
    stop_all(ws)


def test_create_status_update_list_delete(cli_root: Path) -> None:
    out = cli("compute", "create", "cpu", "--max-nodes", "2", "--idle-seconds", "5",
              "--cpus", "1", "--memory", "1GiB", "--resource", "ssd=1", cwd=cli_root).stdout
    assert "Created compute target cpu (local)" in out
    assert "cpu: Succeeded, Steady, nodes 0 (target 0" in out
    status = json.loads(cli("compute", "status", "cpu", "--json", cwd=cli_root).stdout)
    assert status["provisioning_state"] == "Succeeded" and status["manager"]["alive"]
    assert status["scale_settings"] == {"min_nodes": 0, "max_nodes": 2,
                                        "idle_seconds_before_scaledown": 5.0}
    table = cli("compute", "status", "cpu", cwd=cli_root).stdout
    assert "allocation state" in table and "Steady" in table
    assert "min_nodes=1" in cli("compute", "update", "cpu", "--min-nodes", "1",
                                cwd=cli_root).stdout
    target = ComputeTarget(Workspace.from_config(cli_root), "cpu")
    wait_until(lambda: target.get_status().current_node_count == 1, what="min_nodes=1")
    watch = cli("compute", "status", "cpu", "--watch", "--interval", "0.1", "--count", "3",
                cwd=cli_root).stdout
    assert "cpu: Succeeded, Steady, nodes 1 (target 1; idle 1" in watch
    listing = cli("compute", "list", cwd=cli_root).stdout
    assert "cpu" in listing and "local" in listing and "1/1" in listing
    assert "Deleted compute target cpu" in cli("compute", "delete", "cpu", "--yes",
                                               cwd=cli_root).stdout
    assert "cpu" not in cli("compute", "list", cwd=cli_root).stdout.replace("local", "")


def test_bad_input_is_refused_with_the_reason(cli_root: Path) -> None:
    proc = cli("compute", "create", "bad", "--min-nodes", "5", "--max-nodes", "2",
               cwd=cli_root, ok=False)
    assert proc.returncode == 1
    assert "min_nodes (5) is greater than max_nodes (2)" in proc.stderr
    proc = cli("compute", "create", "bad", "--backend", "kubernets", cwd=cli_root, ok=False)
    assert "Did you mean 'kubernetes'?" in proc.stderr
    proc = cli("compute", "create", "bad", "--memory", "lots", cwd=cli_root, ok=False)
    assert "'lots' does not parse" in proc.stderr
    proc = cli("compute", "status", "nosuch", cwd=cli_root, ok=False)
    assert "Compute target 'nosuch' does not exist" in proc.stderr
    proc = cli("compute", "update", "local", cwd=cli_root, ok=False)
    assert "Give at least one of" in proc.stderr
