"""Submit-time work on a traced pipeline: validate it against the workspace and pin its code.

Everything that can be wrong with a pipeline is found here, before a run is recorded: unknown
compute targets and datastores, missing input data, invalid script configs, environments.
Then each step payload is pinned (its snapshot uploaded) and the prepared pipeline is
cloudpickled next to the run for the pipeline process.

Example::

    prepared = prepare(train_pipeline, ws, {"lr": 0.05})
    location = save_prepared(ws, run_id, prepared)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cumulus.errors import (
    ComputeTargetNotFoundError,
    DatastoreNotFoundError,
    PipelineError,
)
from cumulus.flows._graph import Graph, validate_graph

if TYPE_CHECKING:
    from cumulus.flows._kinds import StepKind
    from cumulus.flows._pipeline import Pipeline
    from cumulus.workspace import Workspace

BLOB_PREFIX = "pipelines/_definitions"


@dataclass
class PreparedPipeline:
    """A traced, validated and pinned pipeline: what the pipeline process executes."""

    pipeline: str
    graph: Graph
    order: list[str]
    payloads: dict[str, StepKind]
    parameters: dict[str, Any]
    regenerate_outputs: bool = False
    continue_on_step_failure: bool = False
    outputs: dict[str, str] = field(default_factory=dict)  # pipeline output -> handle
    #: steps that run again even when a completed run could be reused
    regenerate_steps: list[str] = field(default_factory=list)
    #: an earlier run of this pipeline whose completed steps this one reuses as they are
    rerun_of: str | None = None

    def definition(self) -> dict[str, Any]:
        """The JSON recorded as the pipeline run's definition."""
        from cumulus.specs import PipelineSpec

        return PipelineSpec(
            pipeline=self.pipeline, graph=self.graph.to_dict(), order=self.order,
            parameters=self.parameters,
            payloads={k: p.describe() for k, p in self.payloads.items()},
            regenerate_outputs=self.regenerate_outputs,
            regenerate_steps=list(self.regenerate_steps), rerun_of=self.rerun_of,
            continue_on_step_failure=self.continue_on_step_failure, outputs=self.outputs,
        ).to_definition()


def prepare(pipeline: Pipeline, ws: Workspace, parameters: dict[str, Any] | None, *,
            regenerate_outputs: bool | list[str] | tuple[str, ...] = False,
            continue_on_step_failure: bool | None = None,
            pin: bool = True) -> PreparedPipeline:
    """Trace ``pipeline`` with ``parameters`` and check it against ``ws``; pin when asked.

    ``regenerate_outputs`` is True (every step runs) or the names of the steps to run again.
    """
    params = pipeline.validate_parameters(parameters)
    trace = pipeline.trace(params)
    graph = trace.graph
    order = validate_graph(graph)
    every, steps = regenerate_choice(regenerate_outputs, order, graph.pipeline)
    for node in graph.nodes.values():
        node.compute_target = node.compute_target or ws.config.default_compute
    check_compute_targets(ws, graph)
    check_data(ws, graph)
    for node in graph.nodes.values():
        trace.payloads[node.payload].validate(ws, node)
    if pin:
        for payload in trace.payloads.values():
            payload.prepare(ws)
    cont = pipeline.continue_on_step_failure if continue_on_step_failure is None \
        else continue_on_step_failure
    return PreparedPipeline(
        pipeline=pipeline.name, graph=graph, order=order, payloads=dict(trace.payloads),
        parameters=params, regenerate_outputs=every, regenerate_steps=steps,
        continue_on_step_failure=bool(cont), outputs=_result_handles(pipeline, trace))


def regenerate_choice(value: Any, steps: list[str], pipeline: str) -> tuple[bool, list[str]]:
    """``regenerate_outputs`` as (every step, named steps); unknown names are refused.

    >>> regenerate_choice(["train"], ["prep", "train"], "p")
    (False, ['train'])
    >>> regenerate_choice(True, ["prep"], "p")
    (True, [])
    """
    if isinstance(value, bool) or value is None:
        return bool(value), []
    names = [value] if isinstance(value, str) else list(value)
    unknown = [n for n in names if n not in steps]
    if unknown or not all(isinstance(n, str) for n in names):
        raise PipelineError(
            f"regenerate_outputs names step(s) {', '.join(map(repr, unknown or names))} that "
            f"pipeline {pipeline!r} does not have; its steps are {', '.join(steps)}. Pass "
            "True to rerun every step, or a list of these names.")
    return False, names


def _result_handles(pipeline: Pipeline, trace: Any) -> dict[str, str]:
    from cumulus.flows._io import Output
    from cumulus.flows._trace import StepOutputs

    result = trace.result
    if result is None:
        return {}
    if isinstance(result, Output):
        result = {result.name or "output": result}
    elif isinstance(result, StepOutputs):
        result = dict(result._outputs)
    if not isinstance(result, dict) or not all(isinstance(v, Output) for v in result.values()):
        raise PipelineError(
            f"Pipeline {pipeline.name!r} returned {type(trace.result).__name__}; a pipeline "
            "body returns nothing, an Output, or a dict of name -> Output.")
    return {str(k): trace.handle(v, str(k)) for k, v in result.items()}


def check_compute_targets(ws: Workspace, graph: Graph) -> None:
    from cumulus.compute import ComputeTarget

    by_target: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        by_target.setdefault(str(node.compute_target), []).append(node.name)
    for target, steps in by_target.items():
        try:
            ComputeTarget(ws, target)
        except ComputeTargetNotFoundError as exc:
            names = ", ".join(repr(s) for s in steps)
            raise ComputeTargetNotFoundError(
                target, _known_targets(ws),
                hint=f"Step(s) {names} of pipeline {graph.pipeline!r} ask for it. Create it "
                     "with ComputeTarget.create(ws, name, config), or change the step's "
                     "compute_target.") from exc


def _known_targets(ws: Workspace) -> list[str]:
    return sorted({"local", *(r["name"] for r in ws.store.computes.list())})


def check_data(ws: Workspace, graph: Graph) -> None:
    """Datastores of inputs and outputs exist; datastore inputs exist on them."""
    from cumulus.flows._data import exists

    for node in graph.nodes.values():
        for name, spec in node.outputs.items():
            if spec.datastore:
                _datastore(ws, spec.datastore, f"Step {node.name!r} output {name!r}")
        for name, src in node.inputs.items():
            if src.kind != "data" or src.datapath is None:
                continue
            where = f"Step {node.name!r} input {name!r}"
            ds = _datastore(ws, src.datapath["datastore"], where)
            if not exists(ws, src.datapath):
                raise PipelineError(
                    f"{where} reads {ds.name}:{src.datapath['path_on_datastore']}, which does "
                    f"not exist on datastore {ds.name!r} ({ds.url}). Upload it first (e.g. "
                    "ds.upload(src_dir=..., target_path=...)) or fix the path.")


def _datastore(ws: Workspace, name: str, where: str) -> Any:
    from cumulus.datastores import Datastore

    try:
        return Datastore.get(ws, name)
    except DatastoreNotFoundError as exc:
        raise PipelineError(f"{where}: {exc}") from None


def save_prepared(ws: Workspace, run_id: str, prepared: PreparedPipeline) -> str:
    """Cloudpickle ``prepared`` onto the default datastore; returns its location.

    Step kinds and run configs defined in the user's own modules go by value.
    """
    from cumulus.flows._code import dumps_by_value

    owners: list[Any] = []
    for payload in prepared.payloads.values():
        owners += [payload, getattr(payload, "config", None)]
    blob = dumps_by_value(prepared, [o for o in owners if o is not None])
    ds = ws.get_default_datastore()
    location = f"{BLOB_PREFIX}/{run_id}.pkl"
    with ds.fs.open(ds.full_path(location), "wb") as fh:
        fh.write(blob)
    return location


def load_prepared(ws: Workspace, location: str) -> PreparedPipeline:
    import cloudpickle

    ds = ws.get_default_datastore()
    with ds.fs.open(ds.full_path(location), "rb") as fh:
        prepared: PreparedPipeline = cloudpickle.loads(fh.read())
    return prepared
