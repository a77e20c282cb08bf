"""``azureml.core.environment``: Environment, ``python.conda_dependencies``, curated names.

An SDK environment becomes a native :class:`cumulus.Environment` when a run is submitted:

- its packages (conda and pip) become a uv virtualenv's requirements; when the worker's own
  interpreter already satisfies every one of them, no environment is built at all (the run
  uses the worker's interpreter, as ``user_managed_dependencies=True`` does);
- a curated ``AzureML-*`` environment runs on the worker's own interpreter;
- ``docker.base_image`` is used (a container run) only when it is not one of the SDK's
  Microsoft registry images, which cannot be pulled here.
"""

from __future__ import annotations

import builtins
from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.azureml.core.conda_dependencies import CondaDependencies
from cumulus.environment import Environment as _Native
from cumulus.errors import EnvironmentNotFoundError

DEFAULT_CPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04"
DEFAULT_GPU_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.1-cudnn8-ubuntu20.04"
CURATED_PREFIX = "AzureML-"


class PythonSection:
    def __init__(self) -> None:
        self.conda_dependencies: CondaDependencies = CondaDependencies()
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies_file: str | None = None


class DockerSection:
    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = DEFAULT_CPU_IMAGE
        self.base_dockerfile: str | None = None
        self.shm_size: str | None = None
        self.arguments: list[str] = []
        self.base_image_registry: Any = None


class SparkSection:
    def __init__(self) -> None:
        self.repositories: list[str] = []
        self.packages: list[Any] = []
        self.precache_packages = False


class Environment:
    """The SDK's Environment; ``to_native()`` gives what Cumulus builds for it."""

    def __init__(self, name: str, _skip_defaults: bool = False) -> None:
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.spark = SparkSection()
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version: str | None = None
        self._native: _Native | None = None

    # constructors -------------------------------------------------------------------------
    @staticmethod
    def from_pip_requirements(name: str, file_path: str, pip_version: str | None = None,
                              ) -> Environment:
        env = Environment(name)
        for line in open(file_path).read().splitlines():  # noqa: SIM115
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                env.python.conda_dependencies.add_pip_package(line)
        return env

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(file_path)
        return env

    @staticmethod
    def from_existing_conda_environment(name: str, conda_environment_name: str) -> Environment:
        azure_only("conda_environment_name", conda_environment_name,
                   "runs on the worker's own interpreter")
        env = Environment(name)
        env.python.user_managed_dependencies = True
        return env

    @staticmethod
    def from_dockerfile(name: str, dockerfile: str, conda_specification: str | None = None,
                        pip_requirements: str | None = None) -> Environment:
        env = Environment.from_conda_specification(name, conda_specification) \
            if conda_specification else Environment.from_pip_requirements(name, pip_requirements) \
            if pip_requirements else Environment(name)
        env.docker.base_image = None
        env.docker.base_dockerfile = dockerfile
        return env

    @staticmethod
    def from_docker_image(name: str, image: str, container_registry: Any = None,
                          conda_specification: str | None = None,
                          pip_requirements: str | None = None) -> Environment:
        env = Environment.from_conda_specification(name, conda_specification) \
            if conda_specification else Environment.from_pip_requirements(name, pip_requirements) \
            if pip_requirements else Environment(name)
        env.docker.base_image = image
        return env

    @staticmethod
    def from_native(native: _Native) -> Environment:
        env = Environment(native.name)
        env.version = str(native.version) if native.version else None
        for req in native.all_requirements:
            env.python.conda_dependencies.add_pip_package(req)
        env.environment_variables = dict(native.env_vars)
        if native.image:
            env.docker.base_image = native.image
        elif native.dockerfile:
            env.docker.base_image, env.docker.base_dockerfile = None, native.dockerfile
        else:
            env.docker.base_image = None
        env.python.user_managed_dependencies = native.is_default
        env._native = native
        return env

    # registry -----------------------------------------------------------------------------
    def register(self, workspace: Any) -> Environment:
        native = self.to_native().register(workspace)
        self.version = str(native.version)
        return self

    @staticmethod
    def get(workspace: Any, name: str, version: str | int | None = None,
            label: str | None = None) -> Environment:
        """A registered environment; a curated ``AzureML-*`` name gives the worker's own
        interpreter (its packages are what such notebooks use)."""
        try:
            return Environment.from_native(
                _Native.get(workspace, name, int(version) if version else None))
        except EnvironmentNotFoundError:
            if not name.startswith(CURATED_PREFIX):
                raise
        azure_only("curated environment", name, "runs on the worker's own interpreter and "
                   "its packages (register an Environment of that name to change it)")
        env = Environment(name)
        env.python.user_managed_dependencies = True
        env.docker.base_image = None
        return env

    @staticmethod
    def list(workspace: Any) -> dict[str, Environment]:
        return {n: Environment.from_native(e) for n, e in _Native.list(workspace).items()}

    def build(self, workspace: Any, image_build_compute: Any = None) -> Any:
        azure_only("Environment.build", "called", "environments are built on each node when a "
                   "run first needs them")
        return self

    def build_local(self, workspace: Any, platform: Any = None, **_: Any) -> Any:
        return self.build(workspace)

    def clone(self, new_name: str) -> Environment:
        import copy

        env = copy.deepcopy(self)
        env.name, env.version, env._native = new_name, None, None
        return env

    def get_image_details(self, workspace: Any) -> dict[str, Any]:
        return {"name": self.name, "environment": self.to_native().to_dict()}

    # conversion ---------------------------------------------------------------------------
    def requirements(self) -> builtins.list[str]:
        return self.python.conda_dependencies.requirements()

    def to_native(self) -> _Native:
        """The native environment Cumulus builds for this one (see the module docstring)."""
        env_vars = {str(k): str(v) for k, v in self.environment_variables.items()}
        if self._native is not None:
            return _Native(**{**self._native.to_dict(), "env_vars": env_vars,
                              "requirements_file": None})
        name = _safe_name(self.name)
        if self.docker.base_dockerfile:
            return _Native(name, dockerfile=self.docker.base_dockerfile, pip=self.requirements(),
                           env_vars=env_vars)
        image = self.docker.base_image
        if image and not image.startswith("mcr.microsoft.com/azureml"):
            return _Native(name, image=image, pip=self.requirements(), env_vars=env_vars)
        if self.python.user_managed_dependencies:
            return _Native(name, env_vars=env_vars)
        reqs = self.requirements()
        missing = _unsatisfied(reqs)
        if not missing:
            return _Native(name, env_vars=env_vars)
        return _Native(name, pip=reqs, env_vars=env_vars,
                       python=self.python.conda_dependencies.python_version
                       if _python_differs(self.python.conda_dependencies.python_version)
                       else None)

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, version={self.version!r})"


def _safe_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "-", name).lstrip("-._") or "environment"


def _python_differs(version: str | None) -> bool:
    import sys

    if not version:
        return False
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return not (version == mine or version.startswith(mine + "."))


def _unsatisfied(requirements: builtins.list[str]) -> builtins.list[str]:
    """The requirements this interpreter's installed distributions do not satisfy."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    missing = []
    for spec in requirements:
        try:
            req = Requirement(spec)
            have = version(req.name)
        except (InvalidRequirement, PackageNotFoundError):
            missing.append(spec)
            continue
        if req.specifier and not req.specifier.contains(have, prereleases=True):
            missing.append(spec)
    return missing


__all__ = ["DEFAULT_CPU_IMAGE", "DEFAULT_GPU_IMAGE", "DockerSection", "Environment",
           "PythonSection"]
