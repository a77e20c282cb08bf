"""Job preparation: a command run on the run's node, in its folder and environment, before
the script; its output is in the run's log and its failure fails the run before the script."""

from __future__ import annotations

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.errors import ValidationError

pytestmark = [pytest.mark.integration]

SCRIPT = "import os\nprint('prepared' if os.path.exists('prepared.flag') else 'not prepared')\n"


def test_job_preparation_runs_before_the_script(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"s.py": SCRIPT})
    run = Experiment(workspace, "jobprep").submit(ScriptRunConfig(
        source_directory=str(src), script="s.py",
        job_preparation="echo preparing $CUMULUS_RUN_ID && touch prepared.flag"))
    assert run.wait_for_completion(raise_on_error=False, timeout=120)["status"] == "Completed"
    log = run.get_log()
    assert f"[job preparation] preparing {run.id}" in log
    assert "\nprepared\n" in log
    assert log.index("[job preparation]") < log.index("\nprepared\n")


def test_a_failing_job_preparation_fails_the_run_before_its_script(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"s.py": SCRIPT})
    run = Experiment(workspace, "jobprep").submit(ScriptRunConfig(
        source_directory=str(src), script="s.py", job_preparation="echo broken >&2; exit 3"))
    details = run.wait_for_completion(raise_on_error=False, timeout=120)
    assert details["status"] == "Failed"
    assert "job_preparation 'echo broken >&2; exit 3' exited with code 3" in \
        details["error"]["message"]
    log = run.get_log()
    assert "[job preparation] broken" in log and "prepared" not in log


def test_job_preparation_must_be_a_command(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = script_dir({"s.py": SCRIPT})
    with pytest.raises(ValidationError, match="job_preparation must be a shell command"):
        Experiment(workspace, "jobprep").submit(ScriptRunConfig(
            source_directory=str(src), script="s.py", job_preparation="  "))


def test_only_a_run_with_nothing_to_prepare_skips_the_preparing_transaction() -> None:
    """Preparing and Running are recorded in one transaction only when nothing runs before
    the script: no environment to build, data path to fetch, job_preparation, later attempt."""
    from cumulus.tasks.executor import nothing_to_prepare

    plain = {"script": "s.py", "arguments": ["--n", 3], "environment": None}
    assert nothing_to_prepare({"definition": plain, "attempt": 1})
    assert nothing_to_prepare({"definition": {**plain, "environment": {"name": "x"}}})
    assert not nothing_to_prepare({"definition": plain, "attempt": 2})
    assert not nothing_to_prepare({"definition": {**plain, "job_preparation": "make"}})
    assert not nothing_to_prepare({"definition": {**plain, "environment": {
        "name": "x", "pip": ["numpy"]}}})
    assert not nothing_to_prepare({"definition": {**plain, "environment": {
        "name": "x", "image": "python:3.11-slim"}}})
    data = {"__datapath__": {"datastore": "ds", "path_on_datastore": "raw"}}
    assert not nothing_to_prepare({"definition": {**plain, "arguments": ["--in", data]}})
    assert not nothing_to_prepare({"definition": {**plain, "inputs": [data]}})
