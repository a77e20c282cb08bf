"""Sweeps from YAML (``cumulus sweep launch sweep.yaml``): the file mirrors the Python API.

Keys are :class:`~cumulus.sweeps.Sweep`'s arguments; ``run_config`` holds
:class:`~cumulus.ScriptRunConfig`'s (``source_directory`` relative to the file), ``sampling``
a sampler's dict form with its parameters under ``parameters`` (or ``space``), ``policy`` a
policy's. ``experiment`` and ``tags`` say where the sweep is recorded.

Example (``sweep.yaml``)::

    experiment: sweep-demo
    run_config:
      source_directory: .
      script: train.py
      arguments: [--epochs, 10]
      compute_target: local
    sampling:
      type: random
      seed: 7
      parameters:
        --lr: loguniform(-6, -1)
        --batch: choice(16, 32, 64)
    primary_metric_name: accuracy
    primary_metric_goal: maximize
    policy: {type: bandit, slack_factor: 0.1, evaluation_interval: 1, delay_evaluation: 5}
    max_total_runs: 20
    max_concurrent_runs: 2
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cumulus.errors import SweepError, allowed_list, did_you_mean

from ._sweep import Sweep

SWEEP_KEYS = ("experiment", "tags", "run_config", "sampling", "primary_metric_name",
              "primary_metric_goal", "policy", "max_total_runs", "max_concurrent_runs",
              "max_duration_minutes", "resume_from")
RUN_CONFIG_KEYS = ("source_directory", "script", "arguments", "compute_target", "environment",
                   "environment_variables", "max_run_duration_seconds", "resources", "command")
REQUIRED = ("run_config", "sampling", "primary_metric_name")


@dataclass
class SweepFile:
    """A sweep read from YAML, with where to record it.

    Example::

        spec = load_sweep_yaml("sweep.yaml", ws)
        srun = Experiment(ws, spec.experiment or "default").submit(spec.sweep, tags=spec.tags)
    """

    sweep: Sweep
    experiment: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def _check_keys(where: str, data: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise SweepError(f"{where}: unknown key {key!r}; allowed: {allowed_list(allowed)}."
                             f"{did_you_mean(str(key), allowed)}")


def _mapping(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SweepError(f"{where} must be a mapping, got {type(value).__name__} ({value!r}).")
    return {str(k): v for k, v in value.items()}


def _environment(where: str, value: Any, ws: Any) -> Any:
    from cumulus.environment import Environment

    if value is None:
        return None
    if isinstance(value, str):
        if ws is None:
            raise SweepError(f"{where}: a registered environment name needs a workspace.")
        return Environment.get(ws, value)
    try:
        return Environment(**_mapping(where, value))
    except TypeError as exc:
        raise SweepError(f"{where}: {exc}; see cumulus.Environment for its fields.") from None


def _run_config(where: str, value: Any, base: Path, ws: Any) -> Any:
    from cumulus.runconfig import ScriptRunConfig

    data = _mapping(where, value)
    _check_keys(where, data, RUN_CONFIG_KEYS)
    if "script" not in data and "command" not in data:
        raise SweepError(f"{where} needs 'script' (e.g. script: train.py).")
    source = Path(str(data.pop("source_directory", ".")))
    data["source_directory"] = source if source.is_absolute() else (base / source).resolve()
    arguments = data.get("arguments", [])
    if not isinstance(arguments, list):
        raise SweepError(f"{where}.arguments must be a list, e.g. [--epochs, 10]; got "
                         f"{arguments!r}.")
    data["environment"] = _environment(f"{where}.environment", data.get("environment"), ws)
    data["environment_variables"] = {str(k): str(v) for k, v in _mapping(
        f"{where}.environment_variables", data.get("environment_variables") or {}).items()}
    return ScriptRunConfig(**data)


def _sampling(where: str, value: Any) -> dict[str, Any]:
    data = _mapping(where, value)
    if "parameters" in data:
        if "space" in data:
            raise SweepError(f"{where}: give the parameters once, under 'parameters'.")
        data["space"] = data.pop("parameters")
    if "type" not in data or "space" not in data:
        raise SweepError(f"{where} needs 'type' (grid, random, bayesian, sobol, cmaes) and "
                         f"'parameters' (name: expression, e.g. --lr: loguniform(-6, -1)).")
    return data


def sweep_from_dict(data: Mapping[str, Any], *, base: str | Path = ".", ws: Any = None,
                    where: str = "sweep") -> SweepFile:
    """Build a :class:`SweepFile` from the YAML document's mapping."""
    data = _mapping(where, data)
    _check_keys(where, data, SWEEP_KEYS)
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise SweepError(f"{where}: missing {', '.join(repr(k) for k in missing)}; a sweep "
                         f"needs {', '.join(REQUIRED)}.")
    sweep = Sweep(
        run_config=_run_config(f"{where}.run_config", data["run_config"], Path(base), ws),
        sampling=_sampling(f"{where}.sampling", data["sampling"]),
        primary_metric_name=data["primary_metric_name"],
        primary_metric_goal=data.get("primary_metric_goal", "maximize"),
        policy=data.get("policy"), max_total_runs=data.get("max_total_runs"),
        max_concurrent_runs=data.get("max_concurrent_runs"),
        max_duration_minutes=data.get("max_duration_minutes"),
        resume_from=data.get("resume_from"))
    experiment = data.get("experiment")
    tags = _mapping(f"{where}.tags", data.get("tags") or {})
    return SweepFile(sweep, None if experiment is None else str(experiment), tags)


def load_sweep_yaml(path: str | Path, ws: Any = None) -> SweepFile:
    """Read a sweep YAML file; every problem is a SweepError naming the file and key."""
    import yaml

    file = Path(path)
    if not file.is_file():
        raise SweepError(f"sweep file {str(path)!r} does not exist.")
    try:
        data = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise SweepError(f"{file}: not valid YAML: {exc}") from None
    try:
        return sweep_from_dict(data or {}, base=file.resolve().parent, ws=ws, where=file.name)
    except SweepError as exc:
        text = str(exc)
        raise SweepError(text if text.startswith(file.name) else f"{file.name}: {text}") \
            from None
