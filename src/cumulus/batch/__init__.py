"""Batch scoring: apply an entry script to every file of a datastore folder, in mini-batches
spread over a compute target's nodes, with retries, an error threshold and resume.

Example::

    from cumulus.batch import ParallelRunConfig
    prc = ParallelRunConfig(entry_script="batch_score.py", source_directory="src",
                            mini_batch_size="10", error_threshold=5, node_count=2)
    run = Experiment(ws, "score").submit(prc, inputs=ds.path("images"),
                                         output=ds.path("scores"))
    run.wait_for_completion(show_output=True)    # scores/parallel_run_step.txt

The job is one distributed run (``node_count`` x ``process_count_per_node`` workers of
:mod:`cumulus.batch._main`, rank 0 merging), so no pipeline or flow has to start; inside a
pipeline it is one step (:func:`batch_steps`). Resubmitting it to the same output scores only
the mini-batches not done yet.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cumulus.batch._config import OUTPUT_ACTIONS, ParallelRunConfig, parse_mini_batch_size
from cumulus.submission import submit_config

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.flows import Pipeline
    from cumulus.run import Run


def batch_steps(config: ParallelRunConfig, inputs: Any, output: Any, name: str = "batch",
                output_name: str = "output") -> Any:
    """A recorder of the job as one step named ``name`` for use inside a pipeline body;
    checks everything first. Returns ``record(run_after=None)`` -> the step's handle."""
    from cumulus.batch._steps import BatchStep
    from cumulus.flows import script_step

    kind = BatchStep(config, inputs, output, output_name)

    def record(run_after: Any = None) -> Any:
        return script_step(kind, name=name, allow_reuse=False, run_after=run_after)

    return record


def batch_pipeline(config: ParallelRunConfig, inputs: Any, output: Any,
                   name: str = "batch-score") -> Pipeline:
    """The pipeline that scores ``inputs`` (a datastore path) into ``output``."""
    from cumulus.flows import pipeline

    record = batch_steps(config, inputs, output)

    @pipeline(name=name)
    def body() -> None:
        record()

    return body


def _job(config: ParallelRunConfig, inputs: Any, output: Any,
         output_name: str = "output") -> tuple[dict[str, Any], Any, Any]:
    """(the job document every worker reads, the input as a download, the output path);
    checks everything first."""
    from cumulus.datastores import DataPath
    from cumulus.errors import ValidationError

    for label, value in (("inputs", inputs), ("output", output)):
        if not isinstance(value, DataPath):
            raise ValidationError(f"{label} must be a datastore path (ds.path('folder')), got "
                                  f"{type(value).__name__} {value!r:.80}.")
    config.validate()
    out = {"datastore": output.datastore, "path": output.path_on_datastore.strip("/"),
           "name": output_name}
    if not out["path"]:
        raise ValidationError("output must be a folder on the datastore, not its root.")
    source = inputs.as_download()
    return {"config": config.to_dict(), "inputs": source.to_dict(), "output": out}, source, \
        DataPath(output.datastore, out["path"])


def batch_run_config(config: ParallelRunConfig, inputs: Any, output: Any) -> Any:
    """The job as one distributed script run: ``node_count`` nodes x
    ``process_count_per_node`` worker processes of :mod:`cumulus.batch._main`."""
    from cumulus.distribution import MpiDistribution
    from cumulus.runconfig import ScriptRunConfig

    job, _, _ = _job(config, inputs, output)
    return ScriptRunConfig(
        source_directory=config.source_directory, script=config.entry_script,
        arguments=[json.dumps(job, separators=(",", ":"))],
        compute_target=config.compute_target, environment=config.environment,
        distribution=MpiDistribution(node_count=config.node_count,
                                     process_count_per_node=config.process_count_per_node),
        environment_variables=dict(config.environment_variables))


@submit_config.register(ParallelRunConfig)
def _submit(config: ParallelRunConfig, experiment: Experiment, *, inputs: Any = None,
            output: Any = None, tags: dict[str, Any] | None = None,
            extra_definition: dict[str, Any] | None = None, **options: Any) -> Run:
    """A batch job submitted on its own: one run whose processes score the mini-batches and
    whose rank 0 merges them (no pipeline, so no flow to start)."""
    from cumulus.errors import ValidationError

    if options:
        raise ValidationError(f"submit(ParallelRunConfig) takes inputs=, output=, tags= and "
                              f"priority=, not {', '.join(sorted(options))}.")
    script = batch_run_config(config, inputs, output)
    _, _, out = _job(config, inputs, output)
    extra = {**(extra_definition or {}), "module": "cumulus.batch._main"}
    return script._submit(experiment, tags=tags, kind="batch",
                          display_name=f"batch {config.entry_script}",
                          properties={"outputs": {"output": out.to_dict()}},
                          extra_definition=extra)


__all__ = ["OUTPUT_ACTIONS", "ParallelRunConfig", "batch_pipeline", "batch_run_config",
           "batch_steps",
           "parse_mini_batch_size"]
