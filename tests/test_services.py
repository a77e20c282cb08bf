"""``cumulus services``: every background process of a workspace is listed with its memory and
stops with one command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.integration]


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([sys.executable, "-m", "cumulus", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_list_then_stop_everything(tmp_path: Path) -> None:
    from cumulus import ComputeTarget, Workspace

    ws = Workspace.create("svc", path=tmp_path, local_compute={"min_nodes": 1, "max_nodes": 1})
    target = ComputeTarget(ws, "local")
    try:
        target.wait_for_completion(timeout_in_minutes=2)
        listed = json.loads(_cli(tmp_path, "services", "list", "--json").stdout)
        compute = [s for s in listed if s["kind"] == "compute"]
        assert [s["name"] for s in compute] == ["local"], listed
        pid = compute[0]["pid"]
        assert compute[0]["rss_mb"] > 20  # the manager and its worker process
        assert "compute:local" in _cli(tmp_path, "services", "list").stdout

        usage = _cli(tmp_path, "services", "stop")
        assert usage.returncode == 2 and "--all" in usage.stderr
        bad = _cli(tmp_path, "services", "stop", "--kind", "computer")
        assert bad.returncode != 0 and "Did you mean 'compute'" in bad.stderr

        out = _cli(tmp_path, "services", "stop", "--all")
        assert out.returncode == 0 and f"stopped compute:local (pid {pid}" in out.stdout
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        assert "No Cumulus process runs" in _cli(tmp_path, "services", "list").stdout
    finally:
        target.backend.stop()
