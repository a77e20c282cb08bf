"""``cumulus env list|show|build`` as a user runs it (a real subprocess, real uv)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def cli(*args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200",
           "CUMULUS_CACHE_DIR": str(cwd / "node-cache")}  # this test's own node cache
    proc = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", "env", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)
    assert (proc.returncode == 0) == ok, f"{args}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_env_build_register_list_show(fresh_workspace) -> None:  # type: ignore[no-untyped-def]
    root = fresh_workspace.root
    out = cli("list", cwd=root).stdout
    assert "No environments registered yet" in out
    built = cli("build", "tiny", "--pip", "six==1.16.0", "--no-inherit", "--register",
                cwd=root).stdout
    assert "[uv]" in built and "Environment tiny version 1 (virtualenv) is ready" in built
    rows = json.loads(cli("list", "--json", cwd=root).stdout)
    assert [(r["name"], r["version"], r["kind"], r["built_here"]) for r in rows] == \
        [("tiny", 1, "virtualenv", "yes")]
    shown = json.loads(cli("show", "tiny", "--json", cwd=root).stdout)
    assert shown["pip"] == ["six==1.16.0"] and shown["inherit_packages"] is False
    again = cli("build", "tiny", cwd=root).stdout
    assert "using cached virtualenv" in again and "[uv]" not in again
    table = cli("list", cwd=root).stdout
    assert "tiny" in table and "six==1.16.0" in table


def test_env_errors_are_one_line(fresh_workspace) -> None:  # type: ignore[no-untyped-def]
    root = fresh_workspace.root
    proc = cli("show", "nope", cwd=root, ok=False)
    assert "Error: Environment 'nope' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = cli("build", cwd=root, ok=False)
    assert "Name a registered environment" in proc.stderr
    proc = cli("build", "x", "--pip", "cumulus-test-no-such-package-77ad", cwd=root, ok=False)
    assert "was not found in the package registry" in proc.stderr
