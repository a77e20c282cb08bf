"""Runs with virtualenv environments on the real local compute target."""

from __future__ import annotations

import io

import pytest

from cumulus import Environment, Experiment, ScriptRunConfig
from cumulus.errors import RunError

pytestmark = pytest.mark.integration
MISSING = "cumulus-test-no-such-package-9b7e1"

SCRIPT = """
import os, sys
import six
from cumulus import Run
run = Run.get_context()
run.log("six", six.__version__)
run.log("in_env", sys.prefix == os.environ["VIRTUAL_ENV"])
run.log("greeting", os.environ["GREETING"])
try:
    import numpy
    run.log("numpy", "inherited")
except ImportError:
    run.log("numpy", "absent")
print("script ran with", sys.executable, flush=True)
"""


def _submit(workspace, script_dir, env: Environment, exp: str = "env-runs"):  # type: ignore[no-untyped-def]
    src = script_dir({"train.py": SCRIPT})
    return Experiment(workspace, exp).submit(
        ScriptRunConfig(source_directory=src, script="train.py", environment=env))


def test_run_in_isolated_env_then_cached(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    # "six!=0.0.1" (always true) gives a build hash no other test builds
    env = Environment("iso-six", pip=["six==1.16.0", "six!=0.0.1"], inherit_packages=False,
                      env_vars={"GREETING": "hello"})
    run = _submit(workspace, script_dir, env)
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out, timeout=240)
    log = out.getvalue()
    assert details["status"] == "Completed", log
    assert run.get_metrics() == {"six": "1.16.0", "in_env": True, "greeting": "hello",
                                 "numpy": "absent"}
    assert "building a virtualenv with uv" in log and "[uv]" in log and "+ six==1.16.0" in log
    assert "/envs/" in log and "script ran with" in log
    second = _submit(workspace, script_dir, env)
    details = second.wait_for_completion(timeout=240)
    assert details["status"] == "Completed"
    log2 = second.get_log()
    assert "using cached virtualenv" in log2 and "[uv]" not in log2
    assert second.get_metrics()["six"] == "1.16.0"


def test_inherited_env_sees_worker_packages(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    env = Environment("inh-six", pip=["six==1.16.0", "six!=0.0.2"], env_vars={"GREETING": "hi"})
    run = _submit(workspace, script_dir, env)
    details = run.wait_for_completion(timeout=240, raise_on_error=False)
    assert details["status"] == "Completed", run.get_log()
    assert run.get_metrics()["numpy"] == "inherited"
    assert run.get_metrics()["six"] == "1.16.0"


def test_missing_package_fails_in_preparing(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    run = _submit(workspace, script_dir, Environment("broken", pip=[MISSING]))
    with pytest.raises(RunError) as info:
        run.wait_for_completion(timeout=240)
    details = run.get_details()
    assert [e["status"] for e in details["statusHistory"]] == ["Queued", "Preparing", "Failed"]
    message = details["error"]["message"]
    assert message.startswith("EnvironmentBuildError: Environment 'broken' failed to build")
    assert f"{MISSING} was not found in the package registry" in message
    assert f"{MISSING} was not found" in str(info.value)
    assert "script ran with" not in run.get_log()
