"""Tracing a pipeline body: step calls record nodes into the active trace.

A pipeline body runs with concrete parameter values; each step call adds a node and returns
handles to its outputs (an :class:`Output`, or a :class:`StepOutputs` for zero or several).
Handles are identified by object identity within one trace, so an ``Output`` created before
the step that writes it can be read by an earlier call: the graph orders the steps.

Example::

    with tracing(Trace("demo")) as t:
        clean = prep(raw=ds.path("raw"))
    graph = t.graph
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from cumulus.errors import PipelineError
from cumulus.flows._graph import DataSource, Graph, Node, OutputSpec, StepOptions
from cumulus.flows._io import Input, Output

if TYPE_CHECKING:
    from cumulus.flows._kinds import StepKind

_current: ContextVar[Trace | None] = ContextVar("cumulus_pipeline_trace", default=None)


class StepOutputs:
    """What a step call returns when it has no output or several: handles by name.

    Example::

        res = split(raw=ds.path("raw"))       # outputs train_set, test_set
        fit(data=res.train_set); score(data=res["test_set"])
        a, b = res                            # in declaration order
    """

    def __init__(self, node: str, outputs: dict[str, Output]) -> None:
        self._node = node
        self._outputs = outputs

    def __getattr__(self, name: str) -> Output:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._outputs[name]
        except KeyError:
            from cumulus.errors import did_you_mean

            raise AttributeError(f"Step {self._node!r} has no output {name!r}; its outputs: "
                                 f"{', '.join(self._outputs) or '(none)'}."
                                 + did_you_mean(name, self._outputs)) from None

    def __getitem__(self, name: str) -> Output:
        return self.__getattr__(name)

    def __iter__(self) -> Iterator[Output]:
        return iter(self._outputs.values())

    def __len__(self) -> int:
        return len(self._outputs)

    def __repr__(self) -> str:
        return f"StepOutputs(step={self._node!r}, outputs={list(self._outputs)})"


class Trace:
    """The graph being built by one pipeline body, plus the step payloads it uses."""

    def __init__(self, pipeline: str, default_compute_target: str | None = None) -> None:
        self.graph = Graph(pipeline)
        self.payloads: dict[str, StepKind] = {}
        self.default_compute_target = default_compute_target
        self._handles: dict[int, str] = {}
        self._payload_ids: dict[int, str] = {}
        self._keep: list[Any] = []  # keep handles alive so ids stay unique
        self.result: Any = None

    def handle(self, out: Output, fallback: str) -> str:
        key = id(out)
        if key not in self._handles:
            self._handles[key] = f"h{len(self._handles) + 1}"
            self._keep.append(out)
            self.graph.handle_names[self._handles[key]] = out.name or fallback
        return self._handles[key]

    def payload_key(self, payload: StepKind) -> str:
        key = id(payload)
        if key not in self._payload_ids:
            self._payload_ids[key] = f"p{len(self._payload_ids) + 1}"
            self.payloads[self._payload_ids[key]] = payload
            self._keep.append(payload)
        return self._payload_ids[key]

    def add(self, *, step: str, payload: StepKind, params: dict[str, Any],
            inputs: dict[str, DataSource], outputs: dict[str, tuple[Output, OutputSpec]],
            after: list[str], options: StepOptions, compute_target: str | None) -> Any:
        """Record one step call; returns its output handle(s)."""
        name = self.graph.unique_name(step)
        self.graph.add(Node(
            name=name, step=step, kind=payload.kind, payload=self.payload_key(payload),
            compute_target=compute_target or self.default_compute_target, params=params,
            inputs=inputs, outputs={k: spec for k, (_o, spec) in outputs.items()},
            after=after, options=options))
        handles = {k: out for k, (out, _spec) in outputs.items()}
        if len(handles) == 1:
            return next(iter(handles.values()))
        return StepOutputs(name, handles)


def current_trace() -> Trace | None:
    return _current.get()


@contextmanager
def tracing(trace: Trace) -> Iterator[Trace]:
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def input_source(trace: Trace, step: str, param: str, value: Any, decl: Input) -> DataSource:
    """The DataSource for a value passed to an Input parameter, or a PipelineError."""
    from cumulus.datastores import DataPath

    if isinstance(value, StepOutputs):
        if len(value) != 1:
            raise PipelineError(
                f"Step {step!r} input {param!r} got all outputs of step {value._node!r} "
                f"({', '.join(value._outputs) or 'none'}); pass one of them, e.g. "
                f"result.{next(iter(value._outputs), 'name')}.")
        value = next(iter(value))
    if isinstance(value, Output):
        return DataSource("output", handle=trace.handle(value, param), mode=decl.mode)
    if isinstance(value, DataPath):
        if value.mode == "upload":
            raise PipelineError(
                f"Step {step!r} input {param!r} got an upload (output) path "
                f"{value.datastore}:{value.path_on_datastore}; pass ds.path(...) (or "
                ".as_download()/.as_mount()) to read it, or declare the parameter as Output.")
        mode = decl.mode if value.mode == "direct" else value.mode
        return DataSource("data", datapath=value.to_dict(), mode=mode)
    raise PipelineError(
        f"Step {step!r} input {param!r} got {type(value).__name__} {value!r:.80}; an Input "
        "takes a datastore path (ds.path('folder/file.csv')) or the Output of another step.")


def output_handle(trace: Trace, step: str, param: str, value: Any,
                  decl: Output | None) -> tuple[Output, OutputSpec]:
    """The handle and spec for a value passed to (or omitted from) an Output parameter."""
    if value is None:
        value = Output(param, datastore=decl.datastore if decl else None,
                       path=decl.path if decl else None)
    if not isinstance(value, Output):
        raise PipelineError(
            f"Step {step!r} output {param!r} got {type(value).__name__} {value!r:.80}; pass "
            "an Output (e.g. Output('clean')) or leave it out to get a new one.")
    datastore, path = value.merged(decl)
    return value, OutputSpec(trace.handle(value, param), datastore=datastore, path=path)


def after_refs(trace: Trace, step: str, run_after: Any) -> list[str]:
    """Node references for ``run_after`` (steps' outputs, StepOutputs, or lists of them)."""
    if run_after is None:
        return []
    items = run_after if isinstance(run_after, list | tuple) else [run_after]
    refs = []
    for item in items:
        if isinstance(item, StepOutputs):
            refs.append(item._node)
        elif isinstance(item, Output):
            refs.append(f"output:{trace.handle(item, item.name or 'output')}")
        else:
            raise PipelineError(
                f"Step {step!r} run_after got {type(item).__name__} {item!r:.80}; pass what "
                "another step call returned (or a list of them).")
    return refs
