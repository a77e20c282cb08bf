"""Rerunning a failed pipeline run from its failed step (reusing what completed, even steps
with allow_reuse=False) and forcing chosen steps to run again; refusals name the steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cumulus import Experiment
from cumulus.errors import PipelineError
from cumulus.flows import Input, Output, PipelineRun, pipeline, step

pytestmark = pytest.mark.integration


@step(allow_reuse=False)
def produce(marker_dir: str, out: Output) -> None:
    import time

    count = Path(marker_dir, "produced")
    count.write_text(count.read_text() + "x" if count.exists() else "x")
    Path(out, "n.txt").write_text(str(time.time()))


@step
def flaky(marker_dir: str, data: Input, out: Output) -> None:
    if not Path(marker_dir, "fixed").exists():
        raise RuntimeError("flaky fails until the marker is there")
    Path(out, "v.txt").write_text(Path(data, "n.txt").read_text())


@step
def last(data: Input, out: Output) -> None:
    Path(out, "w.txt").write_text("done")


@pipeline(name="flows-rerun")
def rerunnable(marker_dir: str):  # type: ignore[no-untyped-def]
    last(data=flaky(marker_dir=marker_dir, data=produce(marker_dir=marker_dir)))


def _status(prun: PipelineRun) -> dict[str, str]:
    return {r.display_name or "": r.get_status() for r in prun.get_steps()}


def test_rerun_from_the_failed_step_reuses_what_completed(flows_ws, tmp_path) -> None:  # type: ignore[no-untyped-def]
    exp = Experiment(flows_ws, "flows-rerun")
    first = exp.submit(rerunnable, pipeline_parameters={"marker_dir": str(tmp_path)})
    assert first.wait_for_completion(timeout=180, raise_on_error=False)["status"] == "Failed"
    assert _status(first) == {"produce": "Completed", "flaky": "Failed"}
    with pytest.raises(PipelineError, match="does not have; its steps are produce, flaky, last"):
        first.resubmit(regenerate_outputs=["train"])
    assert first.rerun_plan() == [
        ("produce", f"reused: completed here as run {first.find_step_run('produce')[0].id}"),
        ("flaky", "runs: Failed here"), ("last", "runs: did not run here")]

    Path(tmp_path, "fixed").write_text("")
    second = first.resubmit()
    assert second.wait_for_completion(timeout=180, raise_on_error=False)["status"] == \
        "Completed", second.get_log()
    produce_run = second.find_step_run("produce")[0]
    reason = produce_run.get_properties()["reason"]
    assert f"completed in run {first.id}, which this run reruns" in reason
    assert Path(tmp_path, "produced").read_text() == "x"    # allow_reuse=False, yet reused
    assert second.get_properties()["rerun_of"] == first.id

    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "cumulus", "pipeline", "rerun", second.id,
                           "--regenerate", "produce", "--follow"], cwd=flows_ws.root,
                          capture_output=True, text=True, timeout=240,
                          env={**__import__("os").environ, "PYTHONPATH": str(repo / "src")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "produce: runs: regenerate_outputs" in proc.stdout
    assert "flaky: reused (run " in proc.stdout and "new output of produce differs" \
        in proc.stdout
    assert Path(tmp_path, "produced").read_text() == "xx"   # forced to run again
