"""Step kinds: how one kind of payload becomes a child run of a pipeline run.

The pipeline engine is generic: for every step it resolves inputs and outputs to data paths,
computes the reuse key and, unless a completed run is reused, asks the step's *kind* to
submit a child run, then waits for that run. A kind implements :class:`StepKind`:

- ``validate(ws, node)`` at submit time (bad input fails before anything is scheduled),
- ``prepare(ws)`` at submit time: pin the code (upload a snapshot),
- ``code_identity()`` / ``environment_identity()`` for the reuse key,
- ``submit(call)`` in the pipeline process: create the child run and return it.

``FunctionPayload`` (``@step``), ``ScriptPayload`` (``script_step(ScriptRunConfig)``) and
``ConfigPayload`` (any config whose ``_submit(experiment, ...)`` takes ``parent=``) live here; a
config may name its own kind with a ``_step_kind()`` method: a sweep's
(``cumulus.sweeps._step.SweepStep``: trials read the step's inputs, the best trial's
``outputs/`` is its output) and a batch job's (``cumulus.batch._steps.BatchStep``).

Example::

    class MyKind(StepKind):
        kind = "mine"
        def code_identity(self): return "v1"
        def submit(self, call): return call.submit(my_config)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cumulus._hashing import doc_digest, text_digest
from cumulus.errors import CumulusError, PipelineError

if TYPE_CHECKING:
    from cumulus.datastores import DataPath
    from cumulus.experiment import Experiment
    from cumulus.flows._graph import Node
    from cumulus.run import Run
    from cumulus.workspace import Workspace

BOOTSTRAP = "_cumulus_step.py"
PAYLOAD = "_cumulus_step.pkl"
BOOTSTRAP_TEXT = "from cumulus.flows._runner import main\n\nmain()\n"


@dataclass
class StepCall:
    """One step run to submit: where, with which data and what to record."""

    experiment: Experiment
    parent_id: str
    node: Node
    inputs: dict[str, DataPath]
    outputs: dict[str, DataPath]
    params: dict[str, Any]
    reuse_key: str
    properties: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    #: what the step's reuse key was made of (kept in the run's definition, read when a later
    #: submission explains why a step reruns)
    reuse: dict[str, Any] = field(default_factory=dict)
    reuse_carried: bool = field(default=False, init=False)

    def definition(self, **extra: Any) -> dict[str, Any]:
        """``extra_definition`` for the child run: ``extra`` and the step's reuse record, so
        that the run is created with it (a kind that does not call this still works: the
        record is then written after the run is created)."""
        self.reuse_carried = True
        return {**extra, "reuse": self.reuse}

    def submit(self, config: Any, **extra: Any) -> Run:
        """Submit ``config`` (a ``ScriptRunConfig``, or any config ``Experiment.submit``
        takes) as this step's run: a child of the pipeline run, of kind ``step``, created
        with the step's reuse record, name, parameters and tags; ``extra`` goes into the
        run's definition."""
        from cumulus.submission import submit_config

        return submit_config(config, self.experiment, parent=self.parent_id, kind="step",
                             extra_definition=self.definition(**extra), **self.run_fields())

    def run_fields(self) -> dict[str, Any]:
        """Keyword arguments every ``_submit`` of a child run takes."""
        return {"tags": self.tags or None, "display_name": self.node.name,
                "params": self.params, "properties": self.properties,
                "reuse_key": self.reuse_key}


class StepKind(ABC):
    """How a step's payload is validated, pinned, identified and submitted as a child run."""

    kind: ClassVar[str] = "step"
    compute_target: str | None = None

    def validate(self, ws: Workspace, node: Node) -> None:  # noqa: B027 - optional hook
        """Submit-time checks; raise a CumulusError naming the step."""

    def prepare(self, ws: Workspace) -> None:  # noqa: B027 - optional hook
        """Submit-time: pin the code that will run (e.g. upload a snapshot)."""

    @abstractmethod
    def code_identity(self) -> str:
        """A string that changes whenever the code the step runs changes."""

    def environment_identity(self) -> str | None:
        return None

    @abstractmethod
    def submit(self, call: StepCall) -> Run:
        """Create the step's child run (kind 'step', parent = the pipeline run)."""

    def describe(self) -> dict[str, Any]:
        """A JSON summary recorded in the pipeline run's definition."""
        return {"kind": self.kind}


def _environment_hash(env: Any) -> str | None:
    from cumulus.environment import environment_definition

    try:
        definition = environment_definition(env)
    except CumulusError:
        return None
    if not definition:
        return None
    return str(definition.get("hash") or doc_digest(definition, 24))


def code_hash(identity: Any) -> str:
    """The code identity of a step: a short hash of a JSON-able description of it."""
    return doc_digest(identity, 32)


def pin_source(ws: Workspace, folder: Any) -> str:
    """Snapshot ``folder`` and upload it to the default datastore; returns its digest (what
    :func:`pinned_source` materialises on a node)."""
    from cumulus.snapshot import take_snapshot, upload_snapshot

    snap = take_snapshot(folder)
    upload_snapshot(snap, ws.get_default_datastore())
    return str(snap.digest)


def pinned_source(ws: Workspace, digest: str) -> Path:
    """A local folder holding snapshot ``digest`` (extracted once into the node cache)."""
    from cumulus.snapshot import cache_dir, materialize_snapshot

    cached = cache_dir() / "snapshots" / digest
    if not cached.is_dir():
        tmp = Path(tempfile.mkdtemp(prefix="cumulus-pin-"))
        try:
            materialize_snapshot(digest, ws.get_default_datastore(), tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return cached


class FunctionPayload(StepKind):
    """A Python function, cloudpickled into a snapshot and called by a small runner script."""

    kind = "function"

    def __init__(self, fn: Any, *, name: str, compute_target: str | None = None,
                 environment: Any = None, resources: dict[str, float] | None = None,
                 source_directory: str | Path | None = None,
                 max_run_duration_seconds: float | None = None) -> None:
        from cumulus.flows._code import code_fingerprint

        self.fn = fn
        self.name = name
        self.compute_target = compute_target
        self.environment = environment
        self.resources = resources
        self.source_directory = str(source_directory) if source_directory else None
        self.max_run_duration_seconds = max_run_duration_seconds
        self.code = code_fingerprint(fn)
        self.snapshot: str | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if state.get("snapshot"):
            state["fn"] = None  # pinned: the pipeline process never unpickles user code
        return state

    def validate(self, ws: Workspace, node: Node) -> None:
        from cumulus.environment import environment_definition

        try:
            environment_definition(self.environment)
        except CumulusError as exc:
            raise PipelineError(f"Step {node.name!r}: {exc}") from None
        if self.source_directory and not Path(self.source_directory).is_dir():
            raise PipelineError(f"Step {node.name!r}: source_directory "
                                f"{self.source_directory!r} is not a folder.")

    def code_identity(self) -> str:
        return self.code

    def environment_identity(self) -> str | None:
        return _environment_hash(self.environment)

    def prepare(self, ws: Workspace) -> None:
        if self.snapshot:
            return
        from cumulus.flows._code import dumps_by_value
        from cumulus.snapshot import take_snapshot, upload_snapshot

        with tempfile.TemporaryDirectory(prefix="cumulus-step-") as tmp:
            root = Path(tmp)
            if self.source_directory:
                src = take_snapshot(self.source_directory)
                for rel, _size, _digest in src.files:
                    (root / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src.source / rel, root / rel)
                self.code = text_digest(f"{self.code}:{src.digest}", 32)
            (root / BOOTSTRAP).write_text(BOOTSTRAP_TEXT)
            (root / PAYLOAD).write_bytes(dumps_by_value(self.fn))
            snap = take_snapshot(root)
            upload_snapshot(snap, ws.get_default_datastore())
        self.snapshot = snap.digest

    def submit(self, call: StepCall) -> Run:
        from cumulus.runconfig import ScriptRunConfig

        if not self.snapshot:
            raise PipelineError(f"Step {call.node.name!r} was not prepared before submission.")
        args: list[Any] = ["--step", call.node.name, "--params", json.dumps(call.params)]
        for name, dp in call.inputs.items():
            args += ["--input", name, dp]
        for name, dp in call.outputs.items():
            args += ["--output", name, dp]
        config = ScriptRunConfig(
            source_directory=pinned_source(call.experiment.workspace, self.snapshot),
            script=BOOTSTRAP, arguments=args, compute_target=call.node.compute_target,
            environment=self.environment, resources=self.resources,
            max_run_duration_seconds=self.max_run_duration_seconds)
        return call.submit(config, step=self.describe())

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "function": getattr(self.fn, "__qualname__", self.name),
                "code": self.code, "snapshot": self.snapshot}


def fill_io(template: list[Any], values: dict[str, Any]) -> list[Any]:
    """Step arguments with their ``{"__io__": name}`` placeholders replaced by ``values``.

    >>> fill_io(["--data", {"__io__": "d"}, 3], {"d": "path"})
    ['--data', 'path', 3]
    """
    return [values[a["__io__"]] if isinstance(a, dict) and "__io__" in a else a
            for a in template]


class ScriptPayload(StepKind):
    """A ScriptRunConfig whose arguments may hold Inputs/Outputs (as ``{"__io__": name}``)."""

    kind = "script"

    def __init__(self, config: Any, template: list[Any], extra_io: list[str]) -> None:
        self.config = config
        self.template = template
        self.extra_io = extra_io  # io names delivered by env var only, not in arguments
        self.compute_target = config.compute_target
        self.snapshot: str | None = None
        self.code = ""

    def _with_args(self, values: dict[str, Any]) -> Any:
        return replace(self.config, arguments=fill_io(self.template, values))

    def validate(self, ws: Workspace, node: Node) -> None:
        from cumulus.datastores import DataPath

        dummy = {n: DataPath("workspacestore", n) for n in [*node.inputs, *node.outputs]}
        try:
            self._with_args(dummy).validate()
        except CumulusError as exc:
            raise PipelineError(f"Step {node.name!r}: {exc}") from None

    def prepare(self, ws: Workspace) -> None:
        if self.snapshot:
            return
        self.snapshot = pin_source(ws, self.config.source_directory)
        c = self.config
        self.code = code_hash({"snapshot": self.snapshot, "script": c.script,
                               "command": c.command, "arguments": self.template,
                               "env": c.environment_variables,
                               "distribution": getattr(c.distribution, "to_dict",
                                                       lambda: None)()})

    def code_identity(self) -> str:
        return self.code

    def environment_identity(self) -> str | None:
        return _environment_hash(self.config.environment)

    def submit(self, call: StepCall) -> Run:
        from cumulus.runconfig import encode_argument

        if not self.snapshot:
            raise PipelineError(f"Step {call.node.name!r} was not prepared before submission.")
        io = {**call.inputs, **call.outputs}
        config = replace(self._with_args(io),
                         source_directory=pinned_source(call.experiment.workspace,
                                                        self.snapshot),
                         compute_target=call.node.compute_target)
        extra = [encode_argument(io[n]) for n in self.extra_io if n in io]
        return call.submit(config, inputs=extra, step=self.describe())

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "script": self.config.script, "code": self.code,
                "snapshot": self.snapshot}


class ConfigPayload(StepKind):
    """Any submittable config (a sweep, ...) whose ``_submit`` accepts ``parent=``.

    The child run keeps the config's own kind (a sweep stays a ``sweep`` run); the engine
    marks it as a step in its properties.
    """

    kind = "run"

    def __init__(self, config: Any) -> None:
        self.config = config
        self.compute_target = getattr(config, "compute_target", None)
        self.code = ""

    def _accepted(self) -> set[str]:
        import inspect

        params = inspect.signature(self.config._submit).parameters
        if any(p.kind is p.VAR_KEYWORD for p in params.values()):
            return {"tags", "parent", "display_name", "params", "properties", "reuse_key"}
        return set(params)

    def validate(self, ws: Workspace, node: Node) -> None:
        if "parent" not in self._accepted():
            raise PipelineError(
                f"Step {node.name!r}: a {type(self.config).__name__} cannot be a pipeline step: "
                "its _submit(experiment, ...) does not accept parent= (the pipeline run).")
        if node.outputs or node.inputs:
            raise PipelineError(
                f"Step {node.name!r}: a {type(self.config).__name__} step cannot declare "
                "inputs or outputs; wrap it in a StepKind that passes them to its run.")

    def prepare(self, ws: Workspace) -> None:
        to_def = getattr(self.config, "to_definition", None)
        if callable(to_def):
            text = json.dumps(to_def(), sort_keys=True, default=str)
        else:
            from cumulus.flows._code import dumps_by_value

            text = dumps_by_value(self.config).hex()
        self.code = text_digest(text, 32)

    def code_identity(self) -> str:
        return self.code

    def submit(self, call: StepCall) -> Run:
        accepted = self._accepted()
        fields = {k: v for k, v in call.run_fields().items() if k in accepted}
        run: Run = self.config._submit(call.experiment, parent=call.parent_id, **fields)
        return run

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": type(self.config).__name__, "code": self.code}
