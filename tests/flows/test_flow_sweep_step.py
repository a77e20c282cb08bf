"""A sweep as a full pipeline step: prepare data -> sweep on it -> use the best trial's
output, one pipeline with data dependencies; a second output, or trials writing one output
through their arguments, is refused at submit. (Data in the trials' arguments: the SDK sample
tests/azureml/samples/hyperdrive_pipeline.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from flow_helpers import read_text

from cumulus import Experiment, ScriptRunConfig
from cumulus.errors import PipelineError
from cumulus.flows import Input, Output, pipeline, script_step, step
from cumulus.sweeps import GridSampling, Sweep, choice

pytestmark = pytest.mark.integration

TRIAL = """
import argparse, os, pathlib
from cumulus import Run
p = argparse.ArgumentParser(); p.add_argument("--x", type=float); a = p.parse_args()
target = float(pathlib.Path(os.environ["CUMULUS_INPUT_DATA"], "target.txt").read_text())
Run.get_context().log("score", -(a.x - target) ** 2)
os.makedirs("outputs", exist_ok=True)
pathlib.Path("outputs/choice.txt").write_text(str(a.x))
"""


@step
def make_target(data: Output) -> None:
    Path(data, "target.txt").write_text("2.0")


@step
def use_best(best: Input, result: Output) -> None:
    Path(result, "used.txt").write_text("best x = " + Path(best, "choice.txt").read_text())


def _sweep(src: str) -> Sweep:
    return Sweep(ScriptRunConfig(source_directory=src, script="trial.py"),
                 GridSampling({"--x": choice(0.0, 2.0, 5.0)}), "score", "maximize",
                 max_concurrent_runs=3)


@pipeline(name="flows-sweep-step")
def tune(src: str):  # type: ignore[no-untyped-def]
    data = make_target()
    best = script_step(_sweep(src), name="sweep", inputs={"data": data},
                       outputs={"best": Output("best")})
    return use_best(best=best)


@pipeline(name="flows-sweep-two-outputs")
def two_outputs(src: str):  # type: ignore[no-untyped-def]
    script_step(_sweep(src), name="sweep", outputs={"a": Output("a"), "b": Output("b")})


@pipeline(name="flows-sweep-writes-through-args")
def writes_through_args(src: str):  # type: ignore[no-untyped-def]
    out = Output("shared")
    sweep = _sweep(src)
    sweep.run_config = ScriptRunConfig(source_directory=src, script="trial.py",
                                       arguments=["--out", out])
    script_step(sweep, name="sweep", outputs={"shared": out})


def test_a_sweep_step_reads_inputs_and_outputs_its_best_trial(flows_ws, script_dir) -> None:  # type: ignore[no-untyped-def]
    src = str(script_dir({"trial.py": TRIAL}))
    exp = Experiment(flows_ws, "flows-sweep-step")
    with pytest.raises(PipelineError, match="a sweep step has one output"):
        exp.submit(two_outputs, pipeline_parameters={"src": src})
    with pytest.raises(PipelineError, match="would all write output shared through their "
                                            "arguments"):
        exp.submit(writes_through_args, pipeline_parameters={"src": src})
    prun = exp.submit(tune, pipeline_parameters={"src": src})
    assert prun.wait_for_completion(timeout=300, raise_on_error=False)["status"] == \
        "Completed", prun.get_log()
    sweep_run = prun.find_step_run("sweep")[0]
    assert sweep_run.kind == "sweep"
    assert len(sweep_run.get_children()) == 3              # every trial read the input
    out = prun.get_step_outputs("use_best")["result"]
    assert read_text(flows_ws.get_default_datastore(),
                     f"{out.path_on_datastore}/used.txt") == "best x = 2.0"
    assert "outputs/ of the best trial" in sweep_run.get_log()
