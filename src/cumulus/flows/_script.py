"""Recording ``script_step(...)`` calls: find the data in a ScriptRunConfig's arguments.

An ``Output`` in the arguments is an output of the step when listed in ``outputs=`` and an
input otherwise; a datastore path (not an upload) is an input. Each becomes a named
placeholder in an argument template that the engine fills with resolved data paths. An input
or output is named after the ``--flag`` before it (``["--data", clean]`` -> ``data``), its own
name, or its position.

Example::

    model = Output("model")
    script_step(ScriptRunConfig(source_directory="src", script="train.py",
                                arguments=["--data", clean, "--model", model]),
                name="train", outputs=[model])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cumulus.errors import PipelineError
from cumulus.flows._graph import DataSource, OutputSpec, StepOptions
from cumulus.flows._io import INPUT_MODES, Input, Output
from cumulus.flows._trace import (
    StepOutputs,
    Trace,
    after_refs,
    input_source,
    output_handle,
)


def _declared_outputs(step: str, outputs: Any, arguments: list[Any]) -> dict[str, Output]:
    if outputs is None:
        return {}
    if isinstance(outputs, dict):
        items = list(outputs.items())
    else:
        items = [(None, o) for o in (outputs if isinstance(outputs, list | tuple) else [outputs])]
    found: dict[str, Output] = {}
    in_args = {a.name: a for a in arguments if isinstance(a, Output) and a.name}
    for i, (key, value) in enumerate(items):
        if isinstance(value, str):
            if value not in in_args:
                raise PipelineError(f"Step {step!r}: outputs lists {value!r}, but no "
                                    f"Output({value!r}) is in the arguments.")
            value = in_args[value]
        if not isinstance(value, Output):
            raise PipelineError(f"Step {step!r}: outputs must hold Output objects (or names of "
                                f"Outputs in the arguments), got {value!r:.80}.")
        found[key or value.name or f"output{i + 1}"] = value
    return found


def _arg_name(arguments: list[Any], index: int, value: Any, taken: set[str]) -> str:
    prev = arguments[index - 1] if index > 0 else None
    if isinstance(prev, str) and prev.startswith("-") and prev.lstrip("-"):
        base = prev.lstrip("-").replace("-", "_")
    else:
        base = getattr(value, "name", None) or f"arg{index}"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    return name


def _split_arguments(step: str, arguments: list[Any], outputs: dict[str, Output],
                     ) -> tuple[list[Any], dict[str, Any], dict[str, Output]]:
    """(template, inputs found, outputs found) from a config's arguments."""
    from cumulus.datastores import DataPath

    out_ids = {id(o): n for n, o in outputs.items()}
    template: list[Any] = []
    found_in: dict[str, Any] = {}
    found_out: dict[str, Output] = {}
    taken = set(outputs)
    for i, arg in enumerate(arguments):
        if isinstance(arg, StepOutputs):
            if len(arg) != 1:
                raise PipelineError(f"Step {step!r} argument #{i} holds all outputs of step "
                                    f"{arg._node!r}; pass one of them.")
            arg = next(iter(arg))
        if isinstance(arg, Output) and id(arg) in out_ids:
            found_out[out_ids[id(arg)]] = arg
            template.append({"__io__": out_ids[id(arg)]})
        elif isinstance(arg, Output) or (isinstance(arg, DataPath) and arg.mode != "upload"):
            name = _arg_name(arguments, i, arg, taken)
            taken.add(name)
            found_in[name] = arg
            template.append({"__io__": name})
        else:
            template.append(arg)
    return template, found_in, found_out


def _sources(trace: Trace, step: str, inputs: dict[str, Any],
             by_env: set[str]) -> dict[str, DataSource]:
    """Arguments keep a data path's own mode (direct = the URL, as in a plain run); inputs
    that reach the script only by environment variable are downloaded unless mounted."""
    out = {}
    for name, value in inputs.items():
        mode = getattr(value, "mode", "download")
        if mode not in INPUT_MODES or (name in by_env and mode == "direct"):
            mode = "download"
        out[name] = input_source(trace, step, name, value, Input(mode=mode))
    return out


def _payload(config: Any, template: list[Any], extra: list[str]) -> Any:
    from cumulus.flows._kinds import ConfigPayload, ScriptPayload, StepKind
    from cumulus.runconfig import ScriptRunConfig

    if isinstance(config, StepKind):
        return config
    own = getattr(config, "_step_kind", None)   # a config with its own step kind (a sweep)
    if callable(own):
        kind: StepKind = own()
        use = getattr(kind, "use_arguments", None)    # data in its arguments, if it takes any
        if callable(use):
            use(template, extra)
        return kind
    if isinstance(config, ScriptRunConfig):
        return ScriptPayload(config, template, extra)
    if callable(getattr(config, "_submit", None)):
        return ConfigPayload(config)
    raise PipelineError(f"script_step takes a ScriptRunConfig (or a submittable run config), "
                        f"got {type(config).__name__}.")


def record_script_step(trace: Trace, config: Any, *, name: str | None,
                       inputs: dict[str, Any], outputs: Any, compute_target: str | None,
                       options: StepOptions, run_after: Any) -> Any:
    """Add a script (or generic run) step to ``trace``; returns its output handle(s)."""
    script = getattr(config, "script", None)
    step = name or (Path(script).stem if script else type(config).__name__.lower())
    # a sweep's data handles sit in the arguments of its trials' run config
    arguments = list(getattr(config, "arguments", None)
                     or getattr(getattr(config, "run_config", None), "arguments", None) or [])
    declared = _declared_outputs(step, outputs, arguments)
    template, in_args, out_args = _split_arguments(step, arguments, declared)
    clash = set(inputs) & set(in_args) | set(inputs) & set(declared)
    if clash:
        raise PipelineError(f"Step {step!r}: the data name(s) {', '.join(sorted(clash))} are "
                            "used twice; rename one of them.")
    all_inputs = {**in_args, **inputs}
    extra = [*inputs, *(n for n in declared if n not in out_args)]
    specs: dict[str, tuple[Output, OutputSpec]] = {
        n: output_handle(trace, step, n, o, None) for n, o in declared.items()}
    payload = _payload(config, template, extra)
    target = compute_target or getattr(config, "compute_target", None)
    return trace.add(step=step, payload=payload, params={},
                     inputs=_sources(trace, step, all_inputs, set(inputs)),
                     outputs=specs, after=after_refs(trace, step, run_after), options=options,
                     compute_target=target)
