"""A batch-scoring job as one pipeline step: a :class:`~cumulus.flows.StepKind` whose child
run is the same distributed run a direct submission makes (N worker processes, rank 0
merges), so a pipeline pays for one step, not one per worker plus a merge."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cumulus.errors import CumulusError, PipelineError
from cumulus.flows._kinds import (
    StepKind,
    _environment_hash,
    code_hash,
    pin_source,
    pinned_source,
)

if TYPE_CHECKING:
    from cumulus.batch._config import ParallelRunConfig
    from cumulus.datastores import DataPath
    from cumulus.flows._graph import Node
    from cumulus.flows._kinds import StepCall
    from cumulus.run import Run
    from cumulus.workspace import Workspace


class BatchStep(StepKind):
    """``ParallelRunConfig`` over ``inputs`` into ``output`` as a step (never reused: the
    job's done-markers already make a rerun score only what is missing)."""

    kind = "batch"

    def __init__(self, config: ParallelRunConfig, inputs: DataPath, output: DataPath,
                 output_name: str = "output") -> None:
        from cumulus.batch import _job

        self.config = config
        self.job, _, self.output = _job(config, inputs, output, output_name)
        self.output_name = output_name
        self.inputs = inputs
        self.compute_target = config.compute_target
        self.snapshot: str | None = None
        self.code = ""

    def validate(self, ws: Workspace, node: Node) -> None:
        from cumulus.environment import environment_definition

        try:
            environment_definition(self.config.environment)
        except CumulusError as exc:
            raise PipelineError(f"Step {node.name!r}: {exc}") from None

    def prepare(self, ws: Workspace) -> None:
        if self.snapshot:
            return
        self.snapshot = pin_source(ws, self.config.source_directory)
        self.code = code_hash({"snapshot": self.snapshot, "job": self.job})

    def code_identity(self) -> str:
        return self.code

    def environment_identity(self) -> str | None:
        return _environment_hash(self.config.environment)

    def submit(self, call: StepCall) -> Run:
        from dataclasses import replace

        from cumulus.batch import batch_run_config

        if not self.snapshot:
            raise PipelineError(f"Step {call.node.name!r} was not prepared before submission.")
        source = pinned_source(call.experiment.workspace, self.snapshot)
        config = replace(self.config, source_directory=str(source),
                         compute_target=call.node.compute_target or self.compute_target)
        script = batch_run_config(config, self.inputs, self.output)
        fields = call.run_fields()
        fields["properties"] = {**(fields.get("properties") or {}), "outputs": {
            self.output_name: self.output.to_dict()}}
        return script._submit(call.experiment, parent=call.parent_id, kind="step",
                              extra_definition=call.definition(module="cumulus.batch._main",
                                                               step=self.describe()),
                              **fields)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "entry_script": self.config.entry_script,
                "code": self.code, "snapshot": self.snapshot}


__all__ = ["BatchStep"]
