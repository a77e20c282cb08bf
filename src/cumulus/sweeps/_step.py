"""A sweep as a full pipeline step: its trials read the step's inputs, and its output is the
best trial's ``outputs/`` folder, so "prepare data -> sweep on it -> use the best model" is one
pipeline with data dependencies.

Example::

    @pipeline(name="tune")
    def tune():
        data = prep(raw=ds.path("raw"))
        best = script_step(sweep, name="sweep", inputs={"data": data},
                           outputs={"best": Output()})     # trials read $CUMULUS_INPUT_DATA
        evaluate(model=best)                               # the best trial's outputs/
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cumulus.errors import CumulusError, PipelineError
from cumulus.flows._kinds import StepKind, _environment_hash, code_hash, fill_io

if TYPE_CHECKING:
    from cumulus.flows._graph import Node
    from cumulus.flows._kinds import StepCall
    from cumulus.run import Run
    from cumulus.sweeps._sweep import Sweep
    from cumulus.workspace import Workspace

FINISHER = "cumulus.sweeps._step:publish_best"


class SweepStep(StepKind):
    """A :class:`~cumulus.sweeps.Sweep` with the step's data: every trial gets the inputs (as
    ``CUMULUS_INPUT_<NAME>``, downloaded or mounted on its node); at most one output, which
    receives the best trial's ``outputs/`` once the trials are done."""

    kind = "sweep"

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.compute_target = sweep.run_config.compute_target
        self.code = ""
        self.template: list[Any] | None = None     # trial arguments, data as {"__io__": name}
        self.env_io: list[str] | None = None       # data names given by env var only

    def use_arguments(self, template: list[Any], env_io: list[str]) -> None:
        """The trials' arguments with the step's data handles as placeholders (recorded by
        ``script_step``): each trial gets them resolved to the data on its node."""
        self.template, self.env_io = template, env_io

    def _config(self, values: dict[str, Any]) -> Any:
        """The trials' run config with the placeholders replaced by ``values``."""
        from dataclasses import replace

        if self.template is None:
            return self.sweep.run_config
        return replace(self.sweep.run_config, arguments=fill_io(self.template, values))

    def validate(self, ws: Workspace, node: Node) -> None:
        from cumulus.datastores import DataPath

        if len(node.outputs) > 1:
            raise PipelineError(
                f"Step {node.name!r}: a sweep step has one output (the best trial's outputs/ "
                f"folder), got {len(node.outputs)}: {', '.join(node.outputs)}.")
        in_args = {a["__io__"] for a in self.template or [] if isinstance(a, dict)}
        written = sorted(in_args & set(node.outputs))
        if written:
            raise PipelineError(
                f"Step {node.name!r}: the sweep's trials would all write output "
                f"{', '.join(written)} through their arguments. Let trials write to ./outputs "
                "and declare the step's output with outputs={'best': Output()}: it receives "
                "the best trial's outputs/.")
        dummy = {n: DataPath("workspacestore", n) for n in [*node.inputs, *node.outputs]}
        try:
            self._config(dummy).validate()
        except CumulusError as exc:
            raise PipelineError(f"Step {node.name!r}: {exc}") from None

    def prepare(self, ws: Workspace) -> None:
        from dataclasses import replace

        from cumulus.snapshot import take_snapshot

        snap = take_snapshot(self.sweep.run_config.source_directory)
        plain = copy.copy(self.sweep)        # the placeholders, not the handles, are hashed
        plain.run_config = replace(self.sweep.run_config, arguments=[])
        self.code = code_hash({"sweep": plain.to_definition(), "arguments": self.template,
                               "snapshot": snap.digest})

    def code_identity(self) -> str:
        return self.code

    def environment_identity(self) -> str | None:
        return _environment_hash(self.sweep.run_config.environment)

    def submit(self, call: StepCall) -> Run:
        from cumulus.runconfig import encode_argument

        io = {**call.inputs, **call.outputs}
        by_env = call.inputs if self.env_io is None else \
            {n: dp for n, dp in call.inputs.items() if n in self.env_io}
        extra: dict[str, Any] = {
            "trial_definition": {"inputs": [encode_argument(dp) for dp in by_env.values()]},
            "step": self.describe(),
            "step_outputs": {n: dp.to_dict() for n, dp in call.outputs.items()}}
        if call.outputs:
            extra["finisher"] = FINISHER
        sweep = copy.copy(self.sweep)
        sweep.run_config = self._config(io)        # the data, resolved for every trial
        run: Run = sweep._submit(call.experiment, parent=call.parent_id,
                                 extra_definition=call.definition(**extra),
                                 **call.run_fields())
        return run

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "script": self.sweep.run_config.script, "code": self.code}


def publish_best(ws: Any, sweep_id: str, trials: list[Any]) -> str:
    """The sweep's finisher as a step: copy the best trial's ``outputs/`` to the step's output
    on its datastore. Fails (so does the step) when no trial completed with the metric."""
    from cumulus.datastores import DataPath, Datastore
    from cumulus.run import Run

    from . import _state

    definition = _state.load(ws.store, sweep_id).definition
    best = Run.get(ws, sweep_id).get_best_run_by_primary_metric()  # type: ignore[attr-defined]
    if best is None:
        raise PipelineError(f"sweep {sweep_id}: no trial completed with its primary metric, so "
                            "there is no best trial to give the step's output.")
    notes = []
    for name, doc in (definition.get("step_outputs") or {}).items():
        target = DataPath.from_dict(doc)
        tmp = Path(tempfile.mkdtemp(prefix="cumulus-best-"))
        try:
            best.download_files(prefix="outputs/", output_directory=str(tmp))
            folder = tmp / "outputs"
            ds = Datastore.get(ws, target.datastore)
            if folder.is_dir() and any(folder.rglob("*")):
                ds.upload(src_dir=str(folder), target_path=target.path_on_datastore,
                          overwrite=True, show_progress=False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        notes.append(f"output {name!r} = outputs/ of the best trial {best.id}")
    return "; ".join(notes)


__all__ = ["SweepStep", "publish_best"]
