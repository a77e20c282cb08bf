"""``@pipeline``: a Python function whose body calls steps; submitted like any run config.

The body runs at submit time with the run's parameters (plain Python: loops and conditions on
parameters work) and records a graph of steps; the graph then runs as a Prefect flow in a
pipeline process, each step as a Prefect task that submits a child run and waits for it.

Example::

    @pipeline(name="train", default_compute_target="cpu-cluster")
    def train_pipeline(lr: float = 0.1, epochs: int = 3):
        clean = prep(raw=ds.path("mnist"))
        train(data=clean, lr=lr, epochs=epochs)

    prun = exp.submit(train_pipeline, pipeline_parameters={"lr": 0.05})
    prun.wait_for_completion(show_output=True)
    prun.find_step_run("train")[0].get_metrics()
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cumulus.errors import CumulusError, PipelineError, ValidationError, did_you_mean
from cumulus.flows._trace import Trace, current_trace, tracing
from cumulus.flows._types import canonical, check_type, coerce, describe, json_problem
from cumulus.run import Run

if TYPE_CHECKING:
    from cumulus.datastores import DataPath
    from cumulus.experiment import Experiment
    from cumulus.workspace import Workspace

SUBMIT_OPTIONS = ("pipeline_parameters", "regenerate_outputs", "continue_on_step_failure",
                  "display_name")


class Pipeline:
    """A pipeline definition (made by ``@pipeline``); see the module docstring."""

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 description: str | None = None, default_compute_target: str | None = None,
                 continue_on_step_failure: bool = False) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise PipelineError(f"Pipeline name {self.name!r} is invalid: use letters, digits, "
                                "'-', '_' or '.'.")
        self.description = description or (inspect.getdoc(fn) or "").split("\n")[0]
        self.default_compute_target = default_compute_target
        self.continue_on_step_failure = continue_on_step_failure
        self.signature = inspect.signature(fn)
        for p in self.signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY):
                raise PipelineError(f"Pipeline {self.name!r}: parameter {p.name!r} must be a "
                                    "plain named parameter (no *args, **kwargs or '/').")
        try:
            self._hints = typing.get_type_hints(fn)
        except Exception:
            self._hints = {}
        self.__doc__ = fn.__doc__
        self.__name__ = self.name
        self.__module__ = fn.__module__

    # parameters ----------------------------------------------------------------------------
    def parameters(self) -> dict[str, tuple[Any, Any]]:
        """name -> (annotation, default); the default is ``inspect.Parameter.empty`` if none."""
        return {p.name: (self._hints.get(p.name, typing.Any), p.default)
                for p in self.signature.parameters.values()}

    def validate_parameters(self, given: dict[str, Any] | None) -> dict[str, Any]:
        """All parameters with defaults filled in, or a PipelineError naming the problem."""
        if given is not None and not isinstance(given, dict):
            raise PipelineError(f"pipeline_parameters must be a dict of name -> value, got "
                                f"{type(given).__name__}.")
        given = dict(given or {})
        spec = self.parameters()
        for key in given:
            if key not in spec:
                raise PipelineError(
                    f"Pipeline {self.name!r} has no parameter {key!r}. Its parameters: "
                    f"{', '.join(spec) or '(none)'}." + did_you_mean(key, spec))
        out = {}
        for key, (annotation, default) in spec.items():
            if key not in given:
                if default is inspect.Parameter.empty:
                    raise PipelineError(f"Pipeline {self.name!r} needs parameter {key!r} "
                                        f"({describe(annotation)}); pass it in "
                                        "pipeline_parameters.")
                value = default
            else:
                value = given[key]
            out[key] = self._check(key, value, annotation)
        return out

    def _check(self, key: str, value: Any, annotation: Any) -> Any:
        problem = json_problem(value)
        if problem:
            raise PipelineError(f"Pipeline {self.name!r} parameter {key!r}: {problem}; "
                                "parameters must be plain data (None, bool, int, float, str, "
                                "lists and dicts of them).")
        if not check_type(value, annotation):
            raise PipelineError(f"Pipeline {self.name!r} parameter {key!r} expects "
                                f"{describe(annotation)}, got {type(value).__name__} "
                                f"{value!r:.80}.")
        return canonical(value)

    def coerce_parameters(self, texts: dict[str, str]) -> dict[str, Any]:
        """Command-line ``k=v`` strings -> typed values by the parameters' annotations."""
        spec = self.parameters()
        out = {}
        for key, text in texts.items():
            if key not in spec:
                raise PipelineError(f"Pipeline {self.name!r} has no parameter {key!r}. Its "
                                    f"parameters: {', '.join(spec) or '(none)'}."
                                    + did_you_mean(key, spec))
            try:
                out[key] = coerce(text, spec[key][0])
            except ValueError as exc:
                raise PipelineError(f"Pipeline {self.name!r} parameter {key!r} expects "
                                    f"{describe(spec[key][0])}: {exc}.") from None
        return out

    # tracing -------------------------------------------------------------------------------
    def trace(self, params: dict[str, Any]) -> Trace:
        """Run the body with ``params`` and return the recorded graph (not yet validated)."""
        trace = Trace(self.name, self.default_compute_target)
        with tracing(trace):
            trace.result = self._run_body(params)
        return trace

    def _run_body(self, params: dict[str, Any]) -> Any:
        try:
            return self.fn(**params)
        except CumulusError:
            raise
        except Exception as exc:
            raise PipelineError(f"The body of pipeline {self.name!r} raised "
                                f"{type(exc).__name__}: {exc}") from exc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Inside another pipeline's body: inline this pipeline's steps there."""
        if current_trace() is None:
            raise PipelineError(
                f"Pipeline {self.name!r} is not called directly; submit it with "
                f"exp.submit({self.name}, pipeline_parameters={{...}}).")
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return self._run_body(dict(bound.arguments))

    # submission ----------------------------------------------------------------------------
    def _submit(self, experiment: Experiment, *, tags: dict[str, Any] | None = None,
                **options: Any) -> PipelineRun:
        for key in options:
            if key not in SUBMIT_OPTIONS:
                raise ValidationError(
                    f"exp.submit(pipeline) got an unknown option {key!r}. Allowed: "
                    f"{', '.join(SUBMIT_OPTIONS)}." + did_you_mean(key, SUBMIT_OPTIONS))
        from cumulus.flows._submit import submit_pipeline

        return submit_pipeline(self, experiment, tags=tags, **options)

    def validate(self, ws: Workspace, pipeline_parameters: dict[str, Any] | None = None) -> None:
        """Check the pipeline against ``ws`` as a submission would, without running it."""
        from cumulus.flows._prepare import prepare

        prepare(self, ws, pipeline_parameters, pin=False)

    def publish(self, ws: Workspace, name: str | None = None, *, experiment: str | None = None,
                description: str | None = None, parameters: dict[str, Any] | None = None,
                exist_ok: bool = True) -> Any:
        """Publish under ``name`` so it can be run by name (CLI, Prefect REST API)."""
        from cumulus.flows._published import PublishedPipeline

        return PublishedPipeline.create(ws, name or self.name, self, experiment=experiment,
                                        description=description, parameters=parameters,
                                        exist_ok=exist_ok)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, parameters={list(self.signature.parameters)})"


def pipeline(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a pipeline: ``@pipeline`` or ``@pipeline(name=..., ...)``.

    Options: name, description, default_compute_target, continue_on_step_failure.
    """
    if fn is not None:
        return Pipeline(fn, **options)

    def wrap(f: Callable[..., Any]) -> Pipeline:
        return Pipeline(f, **options)
    return wrap


class PipelineRun(Run):
    """A pipeline run: its children are the step runs (one per attempt or reuse).

    Example::

        prun.wait_for_completion(show_output=True)
        for r in prun.get_steps():
            print(r.display_name, r.get_status(), r.get_properties()["reason"])
    """

    def _revive(self, out: Any) -> None:
        """A waiting client restarts the pipeline agent if it died with this run in flight
        (the new agent fails runs whose process died and starts the queued ones)."""
        from cumulus.doctor import revive_pipelines

        try:
            done = revive_pipelines(self.workspace)
        except Exception as exc:  # never abort a wait over this
            done = [f"could not check the pipeline agent: {type(exc).__name__}: {exc}"]
        for line in done:
            if out is not None:
                out.write(f"[cumulus] {line}\n")
                out.flush()

    def get_steps(self) -> list[Run]:
        """Step runs (every attempt and reuse), oldest first."""
        return [r for r in self.get_children() if "step" in (r._record.get("properties") or {})]

    def find_step_run(self, name: str) -> list[Run]:
        """The runs of step ``name``, oldest first (several when it was retried)."""
        return [r for r in self.get_steps() if r.display_name == name]

    def get_step_outputs(self, name: str) -> dict[str, DataPath]:
        """Outputs of the step's completed run: output name -> DataPath on its datastore."""
        from cumulus.datastores import DataPath

        for run in reversed(self.find_step_run(name)):
            props = run.get_properties()
            if run.get_status() == "Completed":
                return {k: DataPath.from_dict(v) for k, v in (props.get("outputs") or {}).items()}
        steps = sorted({r.display_name or "" for r in self.get_steps()})
        raise PipelineError(f"Pipeline run {self.id} has no completed run of step {name!r}. "
                            f"Steps with runs: {', '.join(steps) or '(none)'}."
                            + did_you_mean(name, steps))

    def get_outputs(self) -> dict[str, DataPath]:
        """The pipeline's outputs (what its body returned) once it completed."""
        from cumulus.datastores import DataPath

        outs = self.get_properties().get("outputs") or {}
        return {k: DataPath.from_dict(v) for k, v in outs.items()}

    @property
    def prefect_flow_run_id(self) -> str | None:
        return self.get_properties().get("prefect_flow_run_id")

    def rerun_plan(self, regenerate_outputs: bool | list[str] = False,
                   ) -> list[tuple[str, str]]:
        """(step, what a rerun from the failed step does with it): steps that completed here
        are reused as they are, the others run (also those named in ``regenerate_outputs``).
        A step whose code, parameters or input data changed since runs too; the rerun's log
        says so."""
        from cumulus.flows._graph import Graph

        every, names = self._regenerate(regenerate_outputs)
        definition = self._record.get("definition") or {}
        deps = Graph.from_dict(definition["graph"]).dependencies()
        done = {r.display_name: r for r in self.get_steps() if r.get_status() == "Completed"}
        plan: list[tuple[str, str]] = []
        running: set[str] = set()
        for step in definition.get("order") or []:
            moved = [d for d in deps.get(step, []) if d in running]
            if every or step in names:
                what = "runs: regenerate_outputs"
            elif step in done and moved:
                what = (f"reused (run {done[step].id}) unless the new output of "
                        f"{', '.join(moved)} differs, then runs")
            elif step in done:
                what = f"reused: completed here as run {done[step].id}"
            else:
                ran = self.find_step_run(step)
                what = f"runs: {ran[-1].get_status()} here" if ran else "runs: did not run here"
            if what.startswith("runs") or moved:
                running.add(step)
            plan.append((step, what))
        return plan

    def _regenerate(self, value: bool | list[str]) -> tuple[bool, list[str]]:
        from cumulus.flows._prepare import regenerate_choice

        definition = self._refresh().get("definition") or {}
        return regenerate_choice(value, list(definition.get("order") or []),
                                 str(definition.get("pipeline") or self.display_name))

    def resubmit(self, from_failed: bool = True, regenerate_outputs: bool | list[str] = False,
                 tags: dict[str, Any] | None = None) -> PipelineRun:
        """Run this pipeline again with the same pinned code and parameters.

        ``from_failed=True`` reuses every step that completed in this run (even those with
        ``allow_reuse=False``) and runs the failed, canceled and skipped ones; steps named in
        ``regenerate_outputs`` (or all, with True) run again regardless. ``from_failed=False``
        is a plain resubmission (the usual reuse rules). See :meth:`rerun_plan`.
        """
        from cumulus.flows._prepare import load_prepared
        from cumulus.flows._submit import queue_prepared
        rec = self._refresh()
        if rec["status"] not in ("Completed", "Failed", "Canceled"):
            raise PipelineError(f"Pipeline run {self.id} is {rec['status']}; wait for it or "
                                f"cancel it (prun.cancel()) before rerunning it.")
        every, names = self._regenerate(regenerate_outputs)
        prepared = load_prepared(self.workspace, (rec.get("definition") or {})["blob"])
        prepared.regenerate_outputs, prepared.regenerate_steps = every, names
        prepared.rerun_of = self.id if from_failed else None
        return queue_prepared(self.experiment, prepared, tags=tags or rec.get("tags") or None,
                              display_name=self.display_name,
                              properties={"rerun_of": self.id} if from_failed else None)


def _register() -> None:
    from cumulus.submission import submit_config

    @submit_config.register(Pipeline)
    def _submit_pipeline(config: Pipeline, experiment: Experiment,
                         **options: Any) -> PipelineRun:
        return config._submit(experiment, **options)


_register()
