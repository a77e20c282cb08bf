"""ScriptRunConfig: what to run (a script in a source folder), where, and with what.

Everything is validated before a run is recorded, so bad input never reaches a queue.

Example::

    src = ScriptRunConfig(source_directory="src", script="train.py",
                          arguments=["--epochs", 3, "--data", ds.path("mnist").as_download()],
                          compute_target="local")
    run = Experiment(ws, "digits").submit(src)
"""

from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, ClassVar

from cumulus.errors import ValidationError

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.run import Run
    from cumulus.specs import ScriptSpec

ARG_TYPES = "str, int, float, bool, pathlib.Path or a datastore DataPath"


@dataclass
class ScriptRunConfig:
    """A script run: ``source_directory`` is snapshotted and ``script`` run with ``arguments``."""

    source_directory: str | os.PathLike[str] = "."
    script: str | None = None
    arguments: list[Any] = field(default_factory=list)
    compute_target: str | None = None
    environment: Any = None
    distribution: Any = None
    max_run_duration_seconds: float | None = None
    resources: dict[str, float] | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    #: ``exp.submit(config, priority=N)`` orders waiting runs (higher first)
    accepts_priority: ClassVar[bool] = True
    #: a shell command run on each node of the run, in its working folder with its
    #: environment, before the script (Azure Batch's job preparation); logged with the run
    job_preparation: str | None = None

    def __post_init__(self) -> None:
        self.arguments = list(self.arguments or [])
        if self.compute_target is not None and not isinstance(self.compute_target, str):
            name = getattr(self.compute_target, "name", None)  # a ComputeTarget object
            if not isinstance(name, str):
                raise ValidationError(
                    f"compute_target must be a target name or a ComputeTarget, got "
                    f"{type(self.compute_target).__name__} {self.compute_target!r:.80}.")
            self.compute_target = name

    # validation --------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise a ValidationError naming the first problem; touches nothing."""
        src = Path(self.source_directory)
        if not src.is_dir():
            raise ValidationError(
                f"source_directory {str(self.source_directory)!r} does not exist or is not a "
                f"folder (resolved to {src.resolve()}). Pass the folder that holds your script.")
        if self.script is None and not self.command:
            raise ValidationError("ScriptRunConfig needs script='train.py' (or command=[...]).")
        if self.script is not None:
            script = src / self.script
            if PurePath(self.script).is_absolute() or ".." in PurePath(self.script).parts:
                raise ValidationError(
                    f"script {self.script!r} must be a path inside source_directory "
                    f"{str(self.source_directory)!r}, e.g. 'train.py'.")
            if not script.is_file():
                near = sorted(p.name for p in src.glob("*.py"))[:10]
                from cumulus.errors import did_you_mean

                raise ValidationError(
                    f"script {self.script!r} not found in source_directory {str(src)!r}."
                    + (f" Python files there: {', '.join(near)}." if near else "")
                    + did_you_mean(self.script, near))
        for i, arg in enumerate([*self.arguments, *(self.command or [])]):
            check_argument(i, arg)
        limit = self.max_run_duration_seconds
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float)
                                  or not limit > 0):
            raise ValidationError(f"max_run_duration_seconds must be a number of seconds > 0, got "
                                  f"{self.max_run_duration_seconds!r}.")
        if self.job_preparation is not None and (
                not isinstance(self.job_preparation, str) or not self.job_preparation.strip()):
            raise ValidationError(f"job_preparation must be a shell command (a non-empty str), "
                                  f"got {self.job_preparation!r}; e.g. 'pip install -r "
                                  f"requirements.txt' or 'bash prepare.sh'.")
        for k, v in self.environment_variables.items():
            if not isinstance(k, str) or not isinstance(v, str) or not k or "=" in k:
                raise ValidationError(f"environment_variables entry {k!r}={v!r} is invalid: "
                                      "names and values must be strings, names without '='.")

    # serialisation -----------------------------------------------------------------------
    def to_spec(self) -> ScriptSpec:
        """The typed spec of a run of this configuration (data paths as dicts, no secrets)."""
        from cumulus.environment import environment_definition
        from cumulus.specs import ScriptSpec

        return ScriptSpec(
            script=self.script,
            command=[encode_argument(a) for a in self.command] if self.command else None,
            arguments=[encode_argument(a) for a in self.arguments],
            max_run_duration_seconds=self.max_run_duration_seconds,
            resources=dict(self.resources or {}),
            environment=environment_definition(self.environment),
            distribution=_distribution_definition(self.distribution),
            environment_variables=dict(self.environment_variables),
            job_preparation=self.job_preparation)

    def to_definition(self) -> dict[str, Any]:
        """The JSON document stored with the run: the spec at the store boundary."""
        return self.to_spec().to_definition()

    def _submit(self, experiment: Experiment, *, tags: dict[str, Any] | None = None,
                parent: str | None = None, display_name: str | None = None,
                kind: str = "script", params: dict[str, Any] | None = None,
                properties: dict[str, Any] | None = None, reuse_key: str | None = None,
                extra_definition: dict[str, Any] | None = None) -> Run:
        from cumulus.tasks.submit import submit_script_run

        self.validate()
        return submit_script_run(experiment, self, tags=tags, parent=parent,
                                 display_name=display_name, kind=kind, params=params,
                                 properties=properties, reuse_key=reuse_key,
                                 extra_definition=extra_definition)


def check_argument(index: int, arg: Any) -> None:
    from cumulus.datastores import DataPath

    if isinstance(arg, bool | int | str | PurePath | DataPath):
        if isinstance(arg, str) and "\x00" in arg:
            raise ValidationError(f"argument #{index} {arg!r} contains a NUL byte, which cannot "
                                  "be passed on a command line.")
        return
    if isinstance(arg, float):
        if math.isnan(arg) or math.isinf(arg):
            return
        return
    raise ValidationError(
        f"argument #{index} {arg!r} is a {type(arg).__name__}, which cannot be passed on a "
        f"command line. Allowed: {ARG_TYPES}. Serialise it first (e.g. json.dumps) or pass it "
        "through a file on a datastore.")


def encode_argument(arg: Any) -> Any:
    from cumulus.datastores import DataPath

    if isinstance(arg, DataPath):
        return {"__datapath__": arg.to_dict()}
    if isinstance(arg, PurePath):
        return str(arg)
    if isinstance(arg, bool):
        return str(arg)
    return arg


def _distribution_definition(distribution: Any) -> dict[str, Any] | None:
    if distribution is None:
        return None
    if hasattr(distribution, "to_dict"):
        return distribution.to_dict()
    raise ValidationError(f"distribution {distribution!r} is not a distribution configuration; "
                          "use PyTorchDistribution(node_count=..., process_count_per_node=...).")


def new_run_id(experiment_name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in experiment_name)[:60]
    return f"{safe}_{int(time.time())}_{uuid.uuid4().hex[:8]}"


def _register() -> None:
    from cumulus.submission import submit_config

    @submit_config.register(ScriptRunConfig)
    def _submit_script(config: ScriptRunConfig, experiment: Experiment, **options: Any) -> Run:
        return config._submit(experiment, **options)


_register()
