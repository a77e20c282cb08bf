"""``azureml.train.estimator``: Estimator, a ScriptRunConfig spelled the older way.

``script_params`` become arguments (``{'--lr': 0.1, '--verbose': ''}`` ->
``['--lr', 0.1, '--verbose']``); ``pip_packages`` / ``conda_packages`` an environment;
``node_count`` / ``distributed_training`` a distributed run.
"""

from __future__ import annotations

from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.azureml.core.conda_dependencies import CondaDependencies
from cumulus.azureml.core.environment import Environment
from cumulus.azureml.core.runconfig import MpiConfiguration, PyTorchConfiguration
from cumulus.azureml.core.script_run_config import ScriptRunConfig


def script_arguments(script_params: dict[str, Any] | None) -> list[Any]:
    args: list[Any] = []
    for key, value in (script_params or {}).items():
        args.append(key)
        if value is not None and value != "":
            args.append(value)
    return args


class Estimator(ScriptRunConfig):
    """The SDK's generic estimator, as a ScriptRunConfig."""

    _framework_packages: tuple[str, ...] = ()

    def __init__(self, source_directory: str, *, compute_target: Any = None,
                 vm_size: str | None = None, vm_priority: str | None = None,
                 entry_script: str | None = None, script_params: dict[str, Any] | None = None,
                 node_count: int = 1, process_count_per_node: int = 1,
                 distributed_backend: str | None = None, distributed_training: Any = None,
                 use_gpu: bool = False, use_docker: bool = True,
                 custom_docker_base_image: str | None = None,
                 custom_docker_image: str | None = None, user_managed: bool = False,
                 conda_packages: list[str] | None = None, pip_packages: list[str] | None = None,
                 conda_dependencies_file_path: str | None = None,
                 pip_requirements_file_path: str | None = None,
                 conda_dependencies_file: str | None = None,
                 pip_requirements_file: str | None = None,
                 environment_variables: dict[str, str] | None = None,
                 environment_definition: Any = None, inputs: list[Any] | None = None,
                 max_run_duration_seconds: float | None = None,
                 framework_version: str | None = None, **azure: Any) -> None:
        env = environment_definition or _environment(
            type(self).__name__.lower(), user_managed, conda_packages,
            [*self._framework_packages, *(pip_packages or [])],
            conda_dependencies_file or conda_dependencies_file_path,
            pip_requirements_file or pip_requirements_file_path)
        image = custom_docker_image or custom_docker_base_image
        if image and env is not None:
            env.docker.base_image = image
        for key, value in (("vm_size", vm_size), ("vm_priority", vm_priority),
                           ("use_gpu", use_gpu), ("framework_version", framework_version),
                           *azure.items()):
            azure_only(key, value, "not used by the estimator; set it on the compute target")
        if environment_variables:
            env.environment_variables.update(environment_variables)
        super().__init__(source_directory, script=entry_script,
                         arguments=script_arguments(script_params),
                         compute_target=compute_target, environment=env,
                         distributed_job_config=_distribution(
                             distributed_training or distributed_backend, node_count,
                             process_count_per_node),
                         max_run_duration_seconds=max_run_duration_seconds)
        self.inputs = list(inputs or [])


def _environment(name: str, user_managed: bool, conda: list[str] | None,
                 pip: list[str], conda_file: str | None, pip_file: str | None) -> Environment:
    if conda_file:
        env = Environment.from_conda_specification(name, conda_file)
    elif pip_file:
        env = Environment.from_pip_requirements(name, pip_file)
    else:
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=pip,
                                                                 conda_packages=conda)
        return _user_managed(env, user_managed)
    for p in pip:
        env.python.conda_dependencies.add_pip_package(p)
    for c in conda or []:
        env.python.conda_dependencies.add_conda_package(c)
    return _user_managed(env, user_managed)


def _user_managed(env: Environment, flag: bool) -> Environment:
    env.python.user_managed_dependencies = flag
    return env


def _distribution(kind: Any, nodes: int, per_node: int) -> Any:
    if kind is None:
        return PyTorchConfiguration(process_count=nodes * per_node, node_count=nodes) \
            if nodes > 1 else None
    if isinstance(kind, Mpi):
        return MpiConfiguration(process_count_per_node=kind.process_count_per_node,
                                node_count=nodes)
    if hasattr(kind, "to_native"):
        return kind
    if isinstance(kind, str) and kind.lower() == "mpi":
        return MpiConfiguration(process_count_per_node=per_node, node_count=nodes)
    return PyTorchConfiguration(process_count=nodes * per_node, node_count=nodes)


class Mpi:
    """``distributed_training=Mpi(process_count_per_node=2)``."""

    def __init__(self, process_count_per_node: int = 1) -> None:
        self.process_count_per_node = process_count_per_node


__all__ = ["Estimator", "Mpi", "script_arguments"]
