"""Batch scoring: apply an entry script to every file of a datastore folder, in mini-batches
spread over a compute target's nodes, with retries, an error threshold and resume.

Example::

    from cumulus.batch import ParallelRunConfig
    prc = ParallelRunConfig(entry_script="batch_score.py", source_directory="src",
                            mini_batch_size="10", error_threshold=5, node_count=2)
    prun = Experiment(ws, "score").submit(prc, inputs=ds.path("images"),
                                          output=ds.path("scores"))
    prun.wait_for_completion(show_output=True)   # scores/parallel_run_step.txt

The job is a pipeline (one ``score`` step per worker, then ``merge``), so it shows in the run
list, the web app and Prefect like any pipeline; resubmitting it to the same output scores only
the mini-batches not done yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cumulus.batch._config import OUTPUT_ACTIONS, ParallelRunConfig, parse_mini_batch_size
from cumulus.submission import submit_config

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.flows import Pipeline, PipelineRun


def batch_steps(config: ParallelRunConfig, inputs: Any, output: Any, prefix: str = "",
                merge_name: str = "merge", output_name: str = "output") -> Any:
    """A recorder of the job's steps (one ``score`` per worker, then ``merge``) for use
    inside a pipeline body; checks everything first. Returns ``record(run_after=None)``."""
    from cumulus.datastores import DataPath
    from cumulus.errors import ValidationError

    from . import _steps

    for label, value in (("inputs", inputs), ("output", output)):
        if not isinstance(value, DataPath):
            raise ValidationError(f"{label} must be a datastore path (ds.path('folder')), got "
                                  f"{type(value).__name__} {value!r:.80}.")
    config.validate()
    doc = config.to_dict()
    out = {"datastore": output.datastore, "path": output.path_on_datastore.strip("/"),
           "name": output_name}
    if not out["path"]:
        raise ValidationError("output must be a folder on the datastore, not its root.")
    source = inputs.as_download()
    settings = {"compute_target": config.compute_target, "environment": config.environment,
                "source_directory": str(config.source_directory)}

    def record(run_after: Any = None) -> Any:
        workers = [
            _steps.score.with_options(name=f"{prefix}score_{k + 1}", **settings)(
                config=doc, inputs=source.to_dict(), output=out, worker=k,
                workers=config.workers, run_after=run_after)
            for k in range(config.workers)]
        return _steps.merge.with_options(name=merge_name, **settings)(
            config=doc, inputs=source.to_dict(), output=out, run_after=workers)

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


@submit_config.register(ParallelRunConfig)
def _submit(config: ParallelRunConfig, experiment: Experiment, *, inputs: Any = None,
            output: Any = None, **options: Any) -> PipelineRun:
    return experiment.submit(batch_pipeline(config, inputs, output), **options)


__all__ = ["OUTPUT_ACTIONS", "ParallelRunConfig", "batch_pipeline", "batch_steps",
           "parse_mini_batch_size"]
