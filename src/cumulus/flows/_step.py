"""``@step`` (a Python function as a pipeline step) and ``script_step`` (a ScriptRunConfig).

Inside a ``@pipeline`` body a step call records a node and returns its output handles; outside
one, a ``@step`` function is a plain function (handy for testing it). Bad input (a parameter
of the wrong type, a non-data value for an Input, an unknown keyword) fails at the call,
naming the step and the parameter.

Example::

    @step(compute_target="cpu-cluster", retries=2, retry_delay_seconds=5)
    def prep(raw: Input, clean: Output, *, scale: float = 1.0):
        ...

    @pipeline(name="train")
    def train_pipeline(scale: float = 1.0):
        clean = prep(raw=ds.path("mnist"), scale=scale)
        script_step(ScriptRunConfig(source_directory="src", script="train.py",
                                    arguments=["--data", clean, "--model", Output("model")]),
                    name="train", outputs=["model"])
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable
from typing import Any

from cumulus.errors import PipelineError, did_you_mean
from cumulus.flows._graph import DataSource, OutputSpec, StepOptions
from cumulus.flows._io import Input, Output, annotation_role
from cumulus.flows._trace import (
    Trace,
    after_refs,
    current_trace,
    input_source,
    output_handle,
)
from cumulus.flows._types import canonical, check_type, describe, json_problem

RESERVED = ("run_after",)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # unresolvable forward references: evaluate one by one
        out: dict[str, Any] = {}
        for name, ann in getattr(fn, "__annotations__", {}).items():
            if isinstance(ann, str):
                try:
                    ann = eval(ann, getattr(fn, "__globals__", {}))
                except Exception:
                    pass
            out[name] = ann
        return out


def _options(name: str, allow_reuse: bool, retries: int, retry_delay_seconds: float,
             retry_backoff: float) -> StepOptions:
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise PipelineError(f"Step {name!r}: retries must be an int >= 0, got {retries!r}.")
    for label, value, low in (("retry_delay_seconds", retry_delay_seconds, 0.0),
                              ("retry_backoff", retry_backoff, 1.0)):
        if not isinstance(value, int | float) or isinstance(value, bool) or \
                not math.isfinite(value) or value < low:
            raise PipelineError(f"Step {name!r}: {label} must be a number >= {low:g}, got "
                                f"{value!r}.")
    if not isinstance(allow_reuse, bool):
        raise PipelineError(f"Step {name!r}: allow_reuse must be True or False, got "
                            f"{allow_reuse!r}.")
    return StepOptions(allow_reuse=allow_reuse, retries=retries,
                       retry_delay_seconds=float(retry_delay_seconds),
                       retry_backoff=float(retry_backoff))


class Step:
    """A Python function as a pipeline step (made by ``@step``); see the module docstring."""

    _is_cumulus_step = True

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 compute_target: str | None = None, environment: Any = None,
                 allow_reuse: bool = True, retries: int = 0, retry_delay_seconds: float = 0,
                 retry_backoff: float = 2.0, resources: dict[str, float] | None = None,
                 source_directory: str | None = None,
                 max_run_duration_seconds: float | None = None) -> None:
        if not callable(fn) or not hasattr(fn, "__code__"):
            raise PipelineError(f"@step decorates a Python function, got {fn!r}.")
        self.fn = fn
        self.name = name or fn.__name__
        self.__doc__ = fn.__doc__
        self.__name__ = self.name
        self.__module__ = fn.__module__
        self.__qualname__ = getattr(fn, "__qualname__", self.name)
        self.options = _options(self.name, allow_reuse, retries, retry_delay_seconds,
                                retry_backoff)
        self.settings = {"compute_target": compute_target, "environment": environment,
                         "resources": resources, "source_directory": source_directory,
                         "max_run_duration_seconds": max_run_duration_seconds}
        self.signature = inspect.signature(fn)
        self.inputs, self.outputs, self.params = self._classify(_hints(fn))
        self._payload: Any = None

    def _classify(self, hints: dict[str, Any]) -> tuple[dict[str, Input], dict[str, Output],
                                                         dict[str, Any]]:
        inputs: dict[str, Input] = {}
        outputs: dict[str, Output] = {}
        params: dict[str, Any] = {}
        for p in self.signature.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise PipelineError(f"Step {self.name!r}: *{p.name} / **{p.name} are not "
                                    "supported; give every parameter a name.")
            if p.name in RESERVED:
                raise PipelineError(f"Step {self.name!r}: the parameter name {p.name!r} is "
                                    "reserved (it orders steps); rename it.")
            role = annotation_role(hints.get(p.name, p.annotation))
            if isinstance(role, Input):
                inputs[p.name] = role
            elif isinstance(role, Output):
                outputs[p.name] = role
            else:
                params[p.name] = hints.get(p.name, typing.Any)
        return inputs, outputs, params

    # composition ---------------------------------------------------------------------------
    def with_options(self, **changes: Any) -> Step:
        """A copy with other settings, e.g. ``prep.with_options(allow_reuse=False)``."""
        allowed = ("name", "compute_target", "environment", "allow_reuse", "retries",
                   "retry_delay_seconds", "retry_backoff", "resources", "source_directory",
                   "max_run_duration_seconds")
        for key in changes:
            if key not in allowed:
                raise PipelineError(f"Step {self.name!r}: unknown option {key!r}. Allowed: "
                                    f"{', '.join(allowed)}." + did_you_mean(key, allowed))
        current = {"name": self.name, **self.settings,
                   "allow_reuse": self.options.allow_reuse, "retries": self.options.retries,
                   "retry_delay_seconds": self.options.retry_delay_seconds,
                   "retry_backoff": self.options.retry_backoff}
        return Step(self.fn, **{**current, **changes})

    def payload(self) -> Any:
        if self._payload is None:
            from cumulus.flows._kinds import FunctionPayload

            s = self.settings
            self._payload = FunctionPayload(
                self.fn, name=self.name, compute_target=s["compute_target"],
                environment=s["environment"], resources=s["resources"],
                source_directory=s["source_directory"],
                max_run_duration_seconds=s["max_run_duration_seconds"])
        return self._payload

    def __call__(self, *args: Any, run_after: Any = None, **kwargs: Any) -> Any:
        trace = current_trace()
        if trace is None:
            if run_after is not None:
                raise PipelineError(f"run_after only applies inside a @pipeline; step "
                                    f"{self.name!r} was called directly.")
            return self.fn(*args, **kwargs)
        return self._record(trace, args, kwargs, run_after)

    def _record(self, trace: Trace, args: tuple[Any, ...], kwargs: dict[str, Any],
                run_after: Any) -> Any:
        bound = self._bind(args, kwargs)
        inputs: dict[str, DataSource] = {}
        outputs: dict[str, tuple[Output, OutputSpec]] = {}
        params: dict[str, Any] = {}
        for name, value in bound.items():
            if name in self.inputs:
                if value is not None:
                    inputs[name] = input_source(trace, self.name, name, value,
                                                self.inputs[name])
            elif name in self.outputs:
                outputs[name] = output_handle(trace, self.name, name, value, self.outputs[name])
            else:
                params[name] = self._check_param(name, value)
        for name in self.outputs:
            if name not in outputs:
                outputs[name] = output_handle(trace, self.name, name, None, self.outputs[name])
        return trace.add(step=self.name, payload=self.payload(), params=params, inputs=inputs,
                         outputs=outputs, after=after_refs(trace, self.name, run_after),
                         options=self.options, compute_target=self.settings["compute_target"])

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        for key in kwargs:
            if key not in self.signature.parameters:
                known = list(self.signature.parameters)
                raise PipelineError(f"Step {self.name!r} has no parameter {key!r}. Its "
                                    f"parameters: {', '.join(known)}." + did_you_mean(key, known))
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError as exc:
            raise PipelineError(f"Step {self.name!r}: {exc}.") from None
        values = dict(bound.arguments)
        for p in self.signature.parameters.values():
            if p.name not in values:
                if p.default is inspect.Parameter.empty and p.name not in self.outputs:
                    raise PipelineError(f"Step {self.name!r} needs {p.name!r}; pass it.")
                values[p.name] = None if p.name in self.outputs else p.default
        return values

    def _check_param(self, name: str, value: Any) -> Any:
        problem = json_problem(value)
        if problem:
            raise PipelineError(
                f"Step {self.name!r} parameter {name!r}: {problem.replace('value', 'the value')}"
                f", which cannot be recorded or compared for reuse. Parameters must be plain "
                "data (None, bool, int, float, str, lists and dicts of them); pass data "
                "through an Input instead.")
        annotation = self.params.get(name, typing.Any)
        if not check_type(value, annotation):
            raise PipelineError(
                f"Step {self.name!r} parameter {name!r} expects {describe(annotation)}, got "
                f"{type(value).__name__} {value!r:.80}.")
        return canonical(value)

    def __repr__(self) -> str:
        return f"Step({self.name!r}, inputs={list(self.inputs)}, outputs={list(self.outputs)})"


def step(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Make a function a pipeline step: ``@step`` or ``@step(compute_target=..., ...)``.

    Options: name, compute_target, environment, allow_reuse, retries, retry_delay_seconds,
    retry_backoff, resources, source_directory, max_run_duration_seconds.
    """
    if fn is not None:
        return Step(fn, **options)

    def wrap(f: Callable[..., Any]) -> Step:
        return Step(f, **options)
    return wrap


def script_step(config: Any, *, name: str | None = None,
                inputs: dict[str, Any] | None = None, outputs: Any = None,
                compute_target: str | None = None, allow_reuse: bool = True, retries: int = 0,
                retry_delay_seconds: float = 0, retry_backoff: float = 2.0,
                run_after: Any = None) -> Any:
    """A ScriptRunConfig (or any submittable run config) as a step of the pipeline being built.

    ``Output`` and datastore paths in ``config.arguments`` become the step's outputs (those
    listed in ``outputs``) and inputs (the rest); ``inputs``/``outputs`` not in the arguments
    reach the script as ``CUMULUS_INPUT_<NAME>`` / ``CUMULUS_OUTPUT_<NAME>`` variables.
    """
    from cumulus.flows._script import record_script_step

    trace = current_trace()
    label = name or getattr(config, "script", None) or type(config).__name__
    if trace is None:
        raise PipelineError(f"script_step({label!r}) must be called inside a @pipeline "
                            "function body.")
    options = _options(str(label), allow_reuse, retries, retry_delay_seconds, retry_backoff)
    return record_script_step(trace, config, name=name, inputs=inputs or {},
                              outputs=outputs, compute_target=compute_target,
                              options=options, run_after=run_after)


__all__ = ["Step", "script_step", "step"]
