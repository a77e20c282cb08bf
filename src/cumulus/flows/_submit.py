"""Submitting a pipeline: prepare (validate + pin), record the run Queued, wake the agent.

Returns at once with a :class:`PipelineRun`; the pipeline agent runs the Prefect flow in its
own process (see ``_agent``), so the run survives the caller.

Example::

    prun = submit_pipeline(train_pipeline, exp, pipeline_parameters={"lr": 0.05})
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cumulus.errors import CumulusError

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.flows._pipeline import Pipeline, PipelineRun
    from cumulus.flows._prepare import PreparedPipeline


def submit_pipeline(pipeline: Pipeline, experiment: Experiment, *,
                    tags: dict[str, Any] | None = None,
                    pipeline_parameters: dict[str, Any] | None = None,
                    regenerate_outputs: bool | list[str] = False,
                    continue_on_step_failure: bool | None = None,
                    display_name: str | None = None,
                    properties: dict[str, Any] | None = None) -> PipelineRun:
    """Validate and pin ``pipeline`` with its parameters, then queue it; bad input raises."""
    from cumulus.flows._prepare import prepare

    prepared = prepare(pipeline, experiment.workspace, pipeline_parameters,
                       regenerate_outputs=regenerate_outputs,
                       continue_on_step_failure=continue_on_step_failure)
    return queue_prepared(experiment, prepared, tags=tags, display_name=display_name,
                          properties=properties)


def queue_prepared(experiment: Experiment, prepared: PreparedPipeline, *,
                   tags: dict[str, Any] | None = None, display_name: str | None = None,
                   properties: dict[str, Any] | None = None) -> PipelineRun:
    """Record a prepared pipeline as a Queued run and make sure the agent will run it."""
    from cumulus.flows._pipeline import PipelineRun
    from cumulus.flows._prepare import save_prepared
    from cumulus.runconfig import new_run_id

    ws = experiment.workspace
    run_id = new_run_id(experiment.name)
    location = save_prepared(ws, run_id, prepared)
    props = {"pipeline": prepared.pipeline, "steps": len(prepared.order),
             "regenerate_outputs": prepared.regenerate_outputs or prepared.regenerate_steps,
             "continue_on_step_failure": prepared.continue_on_step_failure,
             **(properties or {})}
    ws.store.create_run(run_id=run_id, experiment_id=experiment.id, kind="pipeline",
                        display_name=display_name or prepared.pipeline, tags=tags,
                        params=prepared.parameters, properties=props,
                        definition={**prepared.definition(), "blob": location},
                        reason="pipeline submitted")
    start_agent(ws, run_id)
    return PipelineRun(experiment, run_id)


def start_agent(ws: Any, run_id: str) -> None:
    """Wake the agent for ``run_id``; if that fails, the run fails with the reason."""
    from cumulus.flows._agent import ensure_agent

    try:
        ensure_agent(ws)
    except CumulusError as exc:
        _fail(ws, run_id, str(exc))
        raise
    except Exception as exc:
        _fail(ws, run_id, f"{type(exc).__name__}: {exc}")
        raise


def _fail(ws: Any, run_id: str, message: str) -> None:
    ws.store.try_transition(run_id, "Failed", reason=message,
                            error={"message": f"the pipeline agent could not start: {message}"})
