"""``azureml.pipeline.steps``: PythonScriptStep and HyperDriveStep, as native pipeline steps.

Each step keeps the SDK's fields; when its pipeline is built, it becomes a recipe of plain data
(a native ScriptRunConfig, argument slots for data and parameters) that records a native
``script_step`` each time the pipeline body runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cumulus.azureml._compat import azure_only, target_name, unsupported
from cumulus.azureml.core.runconfig import RunConfiguration
from cumulus.azureml.core.script_run_config import native_argument, native_environment
from cumulus.azureml.pipeline.core._data import (
    InputRef,
    OutputFileDatasetConfig,
    PipelineData,
    data_of,
)
from cumulus.azureml.pipeline.core.graph import PipelineParameter
from cumulus.errors import PipelineError


def _data_info(data: PipelineData) -> tuple[int, str, str | None, str | None]:
    return (id(data), data.name, data.datastore_name, data.destination)


def _output(outputs: dict[int, Any], info: tuple[int, str, str | None, str | None]) -> Any:
    from cumulus.flows import Output

    key, name, datastore, path = info
    if key not in outputs:
        outputs[key] = Output(name, datastore=datastore, path=path)
    return outputs[key]


class PipelineStep:
    """What every SDK step shares: a name, ordering (``run_after``), data dependencies."""

    def __init__(self, name: str, inputs: list[Any] | None, outputs: list[Any] | None,
                 allow_reuse: bool) -> None:
        if not isinstance(name, str) or not name:
            raise PipelineError(f"A step needs a name, got {name!r}.")
        self.name = name
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.allow_reuse = allow_reuse
        self._after: list[PipelineStep] = []
        for out in self._produced():
            if out._producer is not None and out._producer is not self:
                raise PipelineError(f"{out!r} is written by step {out._producer.name!r} and "
                                    f"by step {name!r}; give each step its own output.")
            out._producer = self

    def run_after(self, step: PipelineStep) -> None:
        self._after.append(step)

    def _arguments(self) -> list[Any]:
        return []

    def _values(self) -> Iterator[Any]:
        yield from self._arguments()
        yield from self.inputs

    def _produced(self) -> list[PipelineData]:
        """The data this step writes: its ``outputs``, and OutputFileDatasetConfigs in its
        arguments that it does not read."""
        produced = [o for o in self.outputs if isinstance(o, PipelineData)]
        read = {id(data_of(i)) for i in self.inputs if data_of(i) is not None}
        for arg in self._arguments():
            if isinstance(arg, OutputFileDatasetConfig) and id(arg) not in read \
                    and all(arg is not o for o in produced):
                produced.append(arg)
        return produced

    def _upstream(self) -> list[PipelineStep]:
        ups = list(self._after)
        mine = {id(d) for d in self._produced()}
        for value in self._values():
            data = data_of(value)
            if data is not None and id(data) not in mine and data._producer is not None:
                ups.append(data._producer)
        return ups

    def _defaults(self, source_directory: str | None) -> None: ...

    def _recipe(self) -> dict[str, Any]:
        raise NotImplementedError

    def _slot(self, value: Any, produced: set[int]) -> tuple[str, Any]:
        """An argument as a slot filled when the pipeline is recorded: a pipeline parameter,
        data read or written, or a plain value."""
        if isinstance(value, PipelineParameter):
            return ("param", value.name)
        data = data_of(value)
        if data is not None:
            kind = "out" if id(data) in produced and not isinstance(value, InputRef) else "in"
            return (kind, _data_info(data))
        return ("value", native_argument(value))

    def _extra_inputs(self, arguments: list[Any]) -> dict[str, tuple[str, Any]]:
        """Inputs that are not among the arguments (they reach the script by env var)."""
        in_args = {id(data_of(a)) for a in arguments if data_of(a) is not None}
        return {f"input{i}" if data_of(v) is None else data_of(v).name:  # type: ignore[union-attr]
                self._slot(v, set()) for i, v in enumerate(self.inputs)
                if id(data_of(v)) not in in_args}


def _filler(values: dict[str, Any], outputs: dict[int, Any]) -> Any:
    def fill(slot: tuple[str, Any]) -> Any:
        kind, x = slot
        if kind == "param":
            return values[x]
        return _output(outputs, x) if kind in ("out", "in") else x
    return fill


class PythonScriptStep(PipelineStep):
    """Run ``script_name`` from ``source_directory`` with ``arguments`` as a pipeline step."""

    def __init__(self, script_name: str, name: str | None = None,
                 arguments: list[Any] | None = None, compute_target: Any = None,
                 runconfig: RunConfiguration | None = None,
                 runconfig_pipeline_params: dict[str, Any] | None = None,
                 inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 params: dict[str, Any] | None = None, source_directory: str | None = None,
                 allow_reuse: bool = True, version: str | None = None,
                 hash_paths: list[str] | None = None) -> None:
        self.script_name = script_name
        self.arguments = list(arguments or [])
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.source_directory = source_directory
        self.params = dict(params or {})
        azure_only("hash_paths", hash_paths, "reuse always hashes the whole source_directory")
        azure_only("runconfig_pipeline_params", runconfig_pipeline_params, "not used")
        super().__init__(name or script_name, inputs, outputs, allow_reuse)

    def _arguments(self) -> list[Any]:
        return self.arguments

    def _defaults(self, source_directory: str | None) -> None:
        if self.source_directory is None:
            self.source_directory = source_directory or "."

    def _recipe(self) -> dict[str, Any]:
        from cumulus.runconfig import ScriptRunConfig

        rc = self.runconfig or RunConfiguration()
        produced = {id(d) for d in self._produced()}
        args = [self._slot(a, produced) for a in self.arguments]
        extra_in = self._extra_inputs(self.arguments)
        outs = [_data_info(d) for d in self._produced()]
        env_vars = {str(k): str(v) for k, v in (rc.environment_variables or {}).items()}
        env_vars.update({f"AML_PARAMETER_{k}": str(v) for k, v in self.params.items()
                         if not isinstance(v, PipelineParameter)})
        template = ScriptRunConfig(
            source_directory=self.source_directory or ".", script=self.script_name,
            compute_target=target_name(self.compute_target or rc.target),
            environment=native_environment(rc.environment),
            max_run_duration_seconds=rc.max_run_duration_seconds,
            environment_variables=env_vars)
        template.validate()  # bad input fails when the pipeline is built
        name, reuse = self.name, self.allow_reuse
        after = [id(s) for s in self._after]

        def record(values: dict[str, Any], outputs: dict[int, Any],
                   handles: dict[int, Any]) -> Any:
            import dataclasses

            from cumulus.flows import script_step

            fill = _filler(values, outputs)
            config = dataclasses.replace(template, arguments=[fill(s) for s in args])
            target = None if config.compute_target in (None, "local") else config.compute_target
            return script_step(config, name=name, compute_target=target,
                               outputs=[_output(outputs, o) for o in outs],
                               inputs={k: fill(v) for k, v in extra_in.items()},
                               allow_reuse=reuse,
                               run_after=[handles[i] for i in after if i in handles] or None)

        return {"id": id(self), "record": record}


class HyperDriveStep(PipelineStep):
    """A HyperDrive sweep as a pipeline step. Every trial reads the step's ``inputs`` (in
    its arguments, or by environment variable); the one output, if given, receives the best
    trial's ``outputs/`` folder once the trials are done."""

    def __init__(self, name: str, hyperdrive_config: Any,
                 estimator_entry_script_arguments: list[Any] | None = None,
                 inputs: list[Any] | None = None, outputs: list[Any] | None = None,
                 metrics_output: Any = None, allow_reuse: bool = True,
                 version: str | None = None) -> None:
        if metrics_output is not None:
            raise PipelineError(
                f"HyperDriveStep {name!r}: metrics_output is not supported; read every "
                "trial's metrics from the step's sweep run (prun.find_step_run(name)[0]"
                ".get_metrics() per child) or have trials write them under ./outputs.")
        if len(outputs or []) > 1:
            raise PipelineError(
                f"HyperDriveStep {name!r}: one output at most (it receives the best trial's "
                f"outputs/ folder), got {len(outputs or [])}.")
        self.hyperdrive_config = hyperdrive_config
        rc = getattr(hyperdrive_config, "run_config", None)
        self.arguments = list(estimator_entry_script_arguments
                              or getattr(rc, "arguments", None) or [])
        super().__init__(name, inputs, outputs, allow_reuse)

    def _arguments(self) -> list[Any]:
        return self.arguments

    def _recipe(self) -> dict[str, Any]:
        args = [self._slot(a, set()) for a in self.arguments]    # trials only read data
        extra_in = self._extra_inputs(self.arguments)
        outs = [_data_info(d) for d in self._produced()]
        config = self.hyperdrive_config
        name, reuse = self.name, self.allow_reuse
        after = [id(s) for s in self._after]

        def record(values: dict[str, Any], outputs: dict[int, Any],
                   handles: dict[int, Any]) -> Any:
            import dataclasses

            from cumulus.flows import script_step

            fill = _filler(values, outputs)
            sweep = config.to_native()
            sweep.run_config = dataclasses.replace(sweep.run_config,
                                                   arguments=[fill(s) for s in args])
            return script_step(sweep, name=name, allow_reuse=reuse,
                               inputs={k: fill(v) for k, v in extra_in.items()},
                               outputs=[_output(outputs, o) for o in outs] or None,
                               run_after=[handles[i] for i in after if i in handles] or None)

        return {"id": id(self), "record": record}


class ParallelRunConfig:
    """The SDK's ParallelRunConfig over :class:`cumulus.batch.ParallelRunConfig`."""

    def __init__(self, environment: Any, entry_script: str, error_threshold: int,
                 output_action: str, compute_target: Any, node_count: int,
                 process_count_per_node: int | None = None, mini_batch_size: Any = None,
                 source_directory: str | None = None, description: str | None = None,
                 logging_level: str = "INFO", run_invocation_timeout: int = 60,
                 run_max_try: int = 3, append_row_file_name: str | None = None,
                 allowed_failed_count: int | None = None, allowed_failed_percent: Any = None,
                 partition_keys: Any = None, environment_variables: Any = None) -> None:
        from cumulus.batch import ParallelRunConfig as _Native

        azure_only("partition_keys", partition_keys, "mini-batches are by file")
        self.native = _Native(
            entry_script=entry_script, source_directory=source_directory or ".",
            mini_batch_size=mini_batch_size or "10", error_threshold=int(error_threshold),
            output_action=output_action, node_count=int(node_count),
            process_count_per_node=int(process_count_per_node or 1),
            run_invocation_timeout=float(run_invocation_timeout), run_max_try=int(run_max_try),
            append_row_file_name=append_row_file_name or "parallel_run_step.txt",
            environment=native_environment(environment) if environment is not None else None,
            compute_target=target_name(compute_target),
            environment_variables=dict(environment_variables or {}))


class ParallelRunStep(PipelineStep):
    """Batch scoring as one pipeline step (``node_count`` x ``process_count_per_node`` workers,
    rank 0 merging), writing ``parallel_run_step.txt`` into ``output`` (an
    OutputFileDatasetConfig's destination, or ``parallel_run/<step name>`` on a PipelineData's
    datastore)."""

    def __init__(self, name: str, parallel_run_config: ParallelRunConfig, inputs: list[Any],
                 output: Any = None, side_inputs: Any = None, arguments: Any = None,
                 allow_reuse: bool = True) -> None:
        if len(inputs) != 1:
            raise PipelineError(f"ParallelRunStep {name!r} takes one input (a dataset or a "
                                f"datastore path), got {len(inputs)}.")
        azure_only("side_inputs", side_inputs, "read them from a datastore in init()")
        azure_only("arguments", arguments, "set environment_variables on the config")
        self.parallel_run_config = parallel_run_config
        self.output_data = output
        super().__init__(name, inputs, [output] if output is not None else [], allow_reuse)

    def _recipe(self) -> dict[str, Any]:
        from cumulus.batch import batch_steps
        from cumulus.datastores import DataPath

        data = self.output_data
        if data is None:
            raise PipelineError(f"ParallelRunStep {self.name!r} needs output=...: where its "
                                "rows go.")
        store = data.datastore_name or "workspacestore"
        path = data.destination or f"parallel_run/{self.name}"
        if "{" in path:
            raise PipelineError(f"ParallelRunStep {self.name!r}: the output destination "
                                f"{path!r} must be a fixed path (no placeholders).")
        source = data_of(self.inputs[0])
        if source is not None:
            raise PipelineError(f"ParallelRunStep {self.name!r} reads a dataset or datastore "
                                "path; reading another step's output is not supported yet.")
        record_steps = batch_steps(self.parallel_run_config.native,
                                   native_argument(self.inputs[0]), DataPath(store, path),
                                   name=self.name, output_name=data.name)
        after = [id(s) for s in self._after]

        def record(values: dict[str, Any], outputs: dict[int, Any],
                   handles: dict[int, Any]) -> Any:
            return record_steps(run_after=[handles[i] for i in after if i in handles] or None)

        return {"id": id(self), "record": record}


class DataTransferStep(PipelineStep):
    def __init__(self, name: str, **_: Any) -> None:
        unsupported("DataTransferStep", "Copy data in a PythonScriptStep with the datastores' "
                    "download/upload, or read the source datastore path directly as an input.")


__all__ = ["DataTransferStep", "HyperDriveStep", "ParallelRunConfig", "ParallelRunStep",
           "PipelineStep", "PythonScriptStep"]
