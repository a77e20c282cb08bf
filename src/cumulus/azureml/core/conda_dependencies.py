"""``azureml.core.conda_dependencies``: CondaDependencies, read as a list of pip requirements.

Cumulus builds run environments with uv from PyPI, so conda packages become the PyPI package of
the same project (``pytorch`` -> ``torch``, ``py-xgboost`` -> ``xgboost``); ``python=X.Y``
becomes the environment's Python version; ``pip`` and the SDK's own ``azureml-*`` packages are
dropped (Cumulus is the SDK here).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cumulus.errors import ValidationError

#: conda package name -> PyPI name where they differ
CONDA_TO_PYPI = {"pytorch": "torch", "py-xgboost": "xgboost", "pytorch-cpu": "torch",
                 "tensorflow-gpu": "tensorflow", "scikit-learn": "scikit-learn",
                 "opencv": "opencv-python", "pyyaml": "pyyaml", "lightgbm": "lightgbm"}
DROPPED = ("pip", "python", "cpuonly", "cudatoolkit", "mkl", "nomkl", "conda")
SDK_PACKAGES = re.compile(r"^(azureml|azure-ml|azureml-\S+)([<>=!~\[ ].*)?$", re.I)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def conda_to_pip(spec: str) -> str | None:
    """A conda spec (``numpy=1.21``, ``conda-forge::lightgbm``) as a pip requirement, or None."""
    spec = spec.split("::")[-1].strip()
    name = _name(spec)
    if name in DROPPED or not name:
        return None
    rest = spec[len(name):].strip()
    if rest.startswith("=") and not rest.startswith("=="):
        rest = "==" + rest.lstrip("=").split("=")[0]   # conda's name=version[=build]
    return CONDA_TO_PYPI.get(name, name) + rest


class CondaDependencies:
    """The packages of an environment (``CondaDependencies.create(pip_packages=[...])``)."""

    def __init__(self, conda_dependencies_file_path: str | None = None,
                 _underlying_structure: dict[str, Any] | None = None) -> None:
        self._conda: list[str] = []
        self._pip: list[str] = []
        self._channels: list[str] = []
        self.python_version: str | None = None
        doc = _underlying_structure
        if conda_dependencies_file_path:
            import yaml

            doc = yaml.safe_load(Path(conda_dependencies_file_path).read_text()) or {}
        if doc:
            self._load(doc)

    def _load(self, doc: dict[str, Any]) -> None:
        if not isinstance(doc, dict):
            raise ValidationError("A conda specification must be a YAML mapping with "
                                  "'dependencies:' (and optionally 'name:', 'channels:').")
        self._channels = list(doc.get("channels") or [])
        for dep in doc.get("dependencies") or []:
            if isinstance(dep, dict):
                for pkg in dep.get("pip") or []:
                    self.add_pip_package(str(pkg))
            elif _name(str(dep)) == "python":
                self.set_python_version(str(dep).split("=", 1)[-1].lstrip("="))
            else:
                self.add_conda_package(str(dep))

    @staticmethod
    def create(pip_indexurl: str | None = None, pip_packages: Iterable[str] | None = None,
               conda_packages: Iterable[str] | None = None, python_version: str | None = None,
               pin_sdk_version: bool = True) -> CondaDependencies:
        cd = CondaDependencies()
        for p in pip_packages or []:
            cd.add_pip_package(p)
        for p in conda_packages or []:
            cd.add_conda_package(p)
        if python_version:
            cd.set_python_version(python_version)
        return cd

    @staticmethod
    def sdk_origin_url() -> str:
        return ""

    def add_pip_package(self, pip_package: str) -> None:
        if not isinstance(pip_package, str) or not pip_package.strip():
            raise ValidationError(f"a pip package must be a requirement string, got "
                                  f"{pip_package!r}.")
        if pip_package not in self._pip:
            self._pip.append(pip_package.strip())

    def add_conda_package(self, conda_package: str) -> None:
        if conda_package not in self._conda:
            self._conda.append(conda_package.strip())

    def add_channel(self, channel: str) -> None:
        if channel not in self._channels:
            self._channels.append(channel)

    def remove_pip_package(self, pip_package: str) -> None:
        self._pip = [p for p in self._pip if _name(p) != _name(pip_package)]

    def remove_conda_package(self, conda_package: str) -> None:
        self._conda = [p for p in self._conda if _name(p) != _name(conda_package)]

    def set_python_version(self, version: str) -> None:
        self.python_version = str(version).strip() or None

    def set_pip_option(self, pip_option: str) -> None:
        from cumulus.azureml._compat import azure_only

        azure_only("pip_option", pip_option, "uv resolves from the configured index")

    @property
    def pip_packages(self) -> list[str]:
        return list(self._pip)

    @property
    def conda_packages(self) -> list[str]:
        return list(self._conda)

    @property
    def conda_channels(self) -> list[str]:
        return list(self._channels)

    def requirements(self) -> list[str]:
        """The pip requirements a Cumulus environment installs (without the SDK itself)."""
        out: list[str] = []
        for spec in [*(conda_to_pip(c) for c in self._conda), *self._pip]:
            if spec and not SDK_PACKAGES.match(spec) and _name(spec) not in map(_name, out):
                out.append(spec)
        return out

    def serialize_to_string(self) -> str:
        import yaml

        deps: list[Any] = [f"python={self.python_version}"] if self.python_version else []
        deps += [*self._conda, {"pip": list(self._pip)}] if self._pip else list(self._conda)
        return str(yaml.safe_dump({"name": "project_environment", "channels": self._channels,
                                   "dependencies": deps}, sort_keys=False))

    def save(self, path: str | None = None) -> str:
        target = Path(path or "conda_dependencies.yml")
        target.write_text(self.serialize_to_string())
        return str(target)

    save_to_file = save

    def __repr__(self) -> str:
        return f"CondaDependencies(pip={self._pip}, conda={self._conda})"


__all__ = ["CONDA_TO_PYPI", "CondaDependencies", "conda_to_pip"]
