"""Bad input found under fault injection: refused with a CumulusError before anything is
recorded, naming what was wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cumulus import ClusterConfig, Experiment, ScriptRunConfig
from cumulus.errors import CumulusError, ValidationError

REPO = Path(__file__).resolve().parents[2]


def test_max_run_duration_must_be_a_number(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("print(1)\n")
    cfg = ScriptRunConfig(source_directory=str(tmp_path), script="a.py",
                          max_run_duration_seconds="abc")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_run_duration_seconds must be a number"):
        cfg.validate()


@pytest.mark.parametrize(("tags", "message"), [
    ({"k": object()}, "tag values must be None, bool, int, float or str"),
    ({"k": "x" * 5_000_001}, "at most 5000"),
    ({"": 1}, "tag name must be a string"),
    ({"k": float("nan")}, "must be finite"),
    ("team=vision", "must be a dict"),
])
def test_bad_tags_are_refused_before_a_run_is_recorded(fresh_workspace, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                       tags, message: str) -> None:
    (tmp_path / "a.py").write_text("print(1)\n")
    exp = Experiment(fresh_workspace, "bad-tags")
    with pytest.raises(ValidationError, match=message):
        exp.submit(ScriptRunConfig(source_directory=str(tmp_path), script="a.py"), tags=tags)
    assert list(exp.get_runs()) == []


def test_max_nodes_has_a_sane_bound() -> None:
    with pytest.raises(ValidationError, match="at most 10000"):
        ClusterConfig(max_nodes=10**12)
    assert ClusterConfig(max_nodes=10_000).max_nodes == 10_000


def test_runs_list_refuses_a_negative_limit(fresh_workspace) -> None:  # type: ignore[no-untyped-def]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run([sys.executable, "-m", "cumulus", "runs", "list", "-n", "-5"],
                          cwd=fresh_workspace.root, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2
    assert "-5 is not in the range x>=1" in proc.stderr


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a/../../b", ""])
def test_upload_file_with_a_bad_name_raises_at_the_call(tmp_path: Path, name: str) -> None:
    from cumulus.tasks.context import RunContext, _PrintSink

    f = tmp_path / "x.txt"
    f.write_text("x")
    with pytest.raises(CumulusError, match="relative path"):
        RunContext(_PrintSink(), None).upload_file(name, str(f))
