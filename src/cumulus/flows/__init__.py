"""Pipelines as Prefect flows: steps on compute targets, content-hash reuse, schedules.

Example::

    from cumulus.flows import pipeline, step, script_step, Input, Output, Schedule

    @step(compute_target="cpu-cluster")
    def prep(raw: Input, clean: Output, *, scale: float = 1.0): ...

    @pipeline(name="train")
    def train_pipeline(scale: float = 1.0):
        clean = prep(raw=ds.path("mnist"), scale=scale)

    prun = exp.submit(train_pipeline, pipeline_parameters={"scale": 2.0})
    prun.wait_for_completion(show_output=True)
    Schedule.create(ws, "nightly", pipeline=train_pipeline, cron="0 2 * * *")

Importing this package does not import Prefect; only the pipeline process does, and names
are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cumulus._lazy import lazy_exports

_EXPORTS = {
    "Input": "cumulus.flows._io", "Output": "cumulus.flows._io",
    "StepCall": "cumulus.flows._kinds", "StepKind": "cumulus.flows._kinds",
    "Pipeline": "cumulus.flows._pipeline", "PipelineRun": "cumulus.flows._pipeline",
    "pipeline": "cumulus.flows._pipeline",
    "PublishedPipeline": "cumulus.flows._published", "Schedule": "cumulus.flows._schedule",
    "Step": "cumulus.flows._step", "script_step": "cumulus.flows._step",
    "deploy_model": "cumulus.flows._deploy",
    "step": "cumulus.flows._step", "StepOutputs": "cumulus.flows._trace",
    "stop_services": "cumulus.flows._agent",
}

__all__ = ["Input", "Output", "Pipeline", "PipelineRun", "PublishedPipeline", "Schedule",
           "Step", "StepCall", "StepKind", "StepOutputs", "deploy_model", "pipeline",
           "script_step", "step",
           "stop_services"]

if TYPE_CHECKING:
    from cumulus.flows._agent import stop_services
    from cumulus.flows._deploy import deploy_model
    from cumulus.flows._io import Input, Output
    from cumulus.flows._kinds import StepCall, StepKind
    from cumulus.flows._pipeline import Pipeline, PipelineRun, pipeline
    from cumulus.flows._published import PublishedPipeline
    from cumulus.flows._schedule import Schedule
    from cumulus.flows._step import Step, script_step, step
    from cumulus.flows._trace import StepOutputs

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
