"""``azureml.core.script_run_config``: ScriptRunConfig, resolved into a native one at submit.

SDK code often sets fields after construction (``src.run_config.target = cluster``), so the
adapter keeps the SDK's fields and builds the native :class:`cumulus.ScriptRunConfig` only when
it is submitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cumulus.azureml._compat import azure_only, target_name
from cumulus.azureml.core.runconfig import RunConfiguration, native_distribution
from cumulus.runconfig import ScriptRunConfig as _NativeConfig
from cumulus.submission import submit_config

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.run import Run


def native_argument(arg: Any) -> Any:
    """SDK data objects (datasets, data references, pipeline data) as native data paths."""
    convert = getattr(arg, "_cumulus_argument", None)
    return convert() if callable(convert) else arg


def native_environment(env: Any) -> Any:
    to_native = getattr(env, "to_native", None)
    return to_native() if callable(to_native) else env


class ScriptRunConfig:
    """A script in ``source_directory`` run with ``arguments`` on ``compute_target``."""

    def __init__(self, source_directory: str, script: str | None = None,
                 arguments: list[Any] | None = None, run_config: RunConfiguration | None = None,
                 _telemetry_values: Any = None, compute_target: Any = None,
                 environment: Any = None, distributed_job_config: Any = None,
                 resume_from: Any = None, max_run_duration_seconds: float | None = None,
                 command: list[Any] | str | None = None, docker_runtime_config: Any = None,
                 ) -> None:
        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        self.distributed_job_config = distributed_job_config
        self.command = command.split() if isinstance(command, str) else command
        if resume_from is not None:
            azure_only("resume_from", resume_from, "not used; a script resumes from its own "
                       "checkpoints under ./outputs")
        if docker_runtime_config is not None:
            self.run_config.docker = docker_runtime_config

    @property
    def compute_target(self) -> Any:
        return self.run_config.target

    @compute_target.setter
    def compute_target(self, value: Any) -> None:
        self.run_config.target = value

    @property
    def environment(self) -> Any:
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Any) -> None:
        self.run_config.environment = value

    def to_native(self) -> _NativeConfig:
        rc = self.run_config
        target = target_name(rc.target)
        distribution = native_distribution(self.distributed_job_config) or rc.distribution()
        env_vars = {str(k): str(v) for k, v in (rc.environment_variables or {}).items()}
        return _NativeConfig(
            source_directory=self.source_directory, script=self.script or rc.script,
            arguments=[native_argument(a) for a in (self.arguments or rc.arguments)],
            compute_target=None if target in (None, "local") else target,
            environment=native_environment(rc.environment), distribution=distribution,
            max_run_duration_seconds=rc.max_run_duration_seconds,
            environment_variables=env_vars,
            command=[native_argument(a) for a in self.command] if self.command else None)


@submit_config.register(ScriptRunConfig)
def _submit(config: ScriptRunConfig, experiment: Experiment, **options: Any) -> Run:
    return submit_config(config.to_native(), experiment, **options)


__all__ = ["ScriptRunConfig", "native_argument", "native_environment"]
