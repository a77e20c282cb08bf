"""`cumulus pipeline` and `cumulus schedule`, run as real subprocesses like a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flow_helpers import unique

import cumulus

pytestmark = pytest.mark.integration

SRC = str(Path(cumulus.__file__).resolve().parents[1])
PIPELINE = '''
from pathlib import Path
from cumulus.flows import Output, pipeline, step

@step
def write(out: Output, *, x: int = 1) -> None:
    Path(out, "x.txt").write_text(str(x * 2))

@pipeline(name="flows-cli")
def cli_pipe(x: int = 1):
    write(x=x)
'''


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "250"}
    proc = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=240)
    if check and proc.returncode != 0:
        raise AssertionError(f"cumulus {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_run_publish_show_and_schedule_from_the_command_line(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    module = tmp_path / "clipipe.py"
    module.write_text(PIPELINE)
    root = flows_ws.root
    out = cli("pipeline", "run", f"{module}:cli_pipe", "--param", "x=7", "--follow", cwd=root)
    assert "finished: Completed" in out.stdout and "write: running as run" in out.stdout
    run_id = out.stdout.split("Submitted pipeline run ")[1].split()[0]
    from cumulus.run import Run

    assert Run._get(flows_ws, run_id).get_details()["params"] == {"x": 7}  # coerced to int

    shown = cli("pipeline", "show", run_id, cwd=root).stdout
    assert "write" in shown and "no earlier run with this key" in shown

    name = unique("cli-pub")
    cli("pipeline", "publish", f"{module}:cli_pipe", "--name", name, "--param", "x=3",
        cwd=root)
    assert name in cli("pipeline", "list", cwd=root).stdout
    again = cli("pipeline", "run", name, "--param", "x=7", "--follow", cwd=root).stdout
    assert "reused run" in again  # same code, parameters and outputs as the first run

    bad = cli("pipeline", "run", name, "--param", "x=seven", cwd=root, check=False)
    assert bad.returncode == 1 and "parameter 'x' expects int" in bad.stderr

    sched = unique("cli-nightly")
    cli("schedule", "create", sched, "--pipeline", name, "--cron", "0 3 * * *", cwd=root)
    listing = cli("schedule", "list", cwd=root).stdout
    assert sched in listing and "cron 0 3 * * *" in listing
    cli("schedule", "disable", sched, cwd=root)
    from cumulus.flows import Schedule

    assert not Schedule.get(flows_ws, sched).enabled
    cli("schedule", "delete", sched, cwd=root)
    assert sched not in [s.name for s in Schedule.list(flows_ws)]
    wrong = cli("schedule", "create", "x", "--pipeline", name, "--cron", "61 * * * *",
                cwd=root, check=False)
    assert wrong.returncode == 1 and "cron expression '61 * * * *' is invalid" in wrong.stderr
