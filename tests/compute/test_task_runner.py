"""Prefect interop: plain Prefect tasks on a compute target through ``task_runner()``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cumulus import Workspace
from cumulus.compute import ClusterConfig, ComputeTarget
from cumulus.errors import ConfigError

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]

FLOW = """
import json, os, sys
from cumulus import Workspace
from cumulus.compute import ComputeTarget
ws = Workspace.from_config(sys.argv[1])
runner = ComputeTarget(ws, "prefect-tasks").task_runner()     # before prefect is imported
from prefect import flow, task

@task
def where(i):
    return os.getpid()

@flow(task_runner=runner)
def spread():
    return [f.result() for f in [where.submit(i) for i in range(3)]]

print(json.dumps({"me": os.getpid(), "pids": spread(), "address": runner.address}))
"""


def test_ephemeral_mode_is_refused(tmp_path: Path) -> None:
    ws = Workspace.create("eph", path=tmp_path, prefect_api_url="ephemeral")
    with pytest.raises(ConfigError, match="ephemeral mode"):
        ComputeTarget(ws, "local").task_runner()


def test_prefect_tasks_run_on_the_cluster(cws: Any) -> None:
    from cumulus.flows._server import LocalServer

    target = ComputeTarget.create(cws, "prefect-tasks", ClusterConfig(
        min_nodes=1, max_nodes=1, idle_seconds_before_scaledown=30))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PYTHONPATH=str(REPO / "src"), PREFECT_HOME=str(cws.state_dir / "phome"))
    try:
        proc = subprocess.run([sys.executable, "-c", FLOW, str(cws.root)], env=env,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        LocalServer(cws).release()     # shared with the session's other workspaces
    assert out["address"] == target.get_status().address
    assert len(out["pids"]) == 3 and out["me"] not in out["pids"]   # ran on the node
