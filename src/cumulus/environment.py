"""Environment: what a run needs (pip packages or an image), identified by a content hash.

A node builds an environment once per *build hash* and reuses it (see
``cumulus.tasks.environments`` for virtual environments built with uv and
``cumulus.tasks.containers`` for images). Four kinds, chosen by the fields that are set:

- ``default``: nothing to build; the worker's own interpreter runs the script.
- ``virtualenv``: ``pip`` and/or ``requirements_file`` (and optionally ``python``, a version
  such as ``"3.12"`` or an interpreter path): a virtual environment on the node. With
  ``inherit_packages=True`` (the default) the worker's packages stay importable *behind* the
  environment's own ones, so ``pip=["one-small-package"]`` is enough to use it next to what
  the worker already has; ``inherit_packages=False`` gives an isolated environment.
- ``image``: the script runs in a container of ``image`` (pip packages, if any, are added in
  a derived image); ``python`` is then the interpreter command inside it (default
  ``python3``).
- ``dockerfile``: as ``image``, with the image built from this Dockerfile text (or file path,
  read at once) with an empty build context.

Example::

    env = Environment("sklearn", pip=["scikit-learn==1.5.2"])
    env = env.register(ws)                   # version 1; registering it unchanged again is a no-op
    src = ScriptRunConfig(..., environment=Environment.get(ws, "sklearn"))
"""

from __future__ import annotations

import builtins
import os
import re
from dataclasses import dataclass, field
from typing import Any

from cumulus._hashing import doc_digest
from cumulus.errors import EnvironmentNotFoundError, ValidationError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KINDS = ("default", "virtualenv", "image", "dockerfile")


@dataclass
class Environment:
    """A run environment; nothing set means the worker's own interpreter.

    Example::

        Environment("tiny", pip=["six==1.16.0"])                      # a uv virtualenv
        Environment("iso", requirements_file="requirements.txt", inherit_packages=False)
        Environment("box", image="python:3.11-slim", pip=["six"])     # a container run
    """

    name: str = "default"
    pip: list[str] = field(default_factory=list)
    requirements_file: str | None = None
    python: str | None = None
    image: str | None = None
    dockerfile: str | None = None
    env_vars: dict[str, str] = field(default_factory=dict)
    inherit_packages: bool = True
    version: int | None = None
    requirements: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.pip is None:  # accepted like the managed service's keyword defaults
            self.pip = []
        if self.env_vars is None:
            self.env_vars = {}
        self._check_name()
        self._check_pip()
        if self.requirements_file is not None and not self.requirements:
            self.requirements = _read_requirements(self.requirements_file)
        for label in ("python", "image"):
            value = getattr(self, label)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValidationError(f"Environment.{label} must be a non-empty string or None, "
                                      f"got {value!r}.")
        if self.dockerfile is not None:
            self.dockerfile = _dockerfile_text(self.dockerfile)
        if self.image and self.dockerfile:
            raise ValidationError(
                f"Environment {self.name!r} sets both image={self.image!r} and a dockerfile; a "
                "Dockerfile names its own base image in FROM. Set only one of them.")
        self._check_env_vars()
        if not isinstance(self.inherit_packages, bool):
            raise ValidationError(f"Environment.inherit_packages must be True or False, got "
                                  f"{self.inherit_packages!r}.")

    # validation --------------------------------------------------------------------------
    def _check_name(self) -> None:
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise ValidationError(
                f"Environment name {self.name!r} is invalid: use 1-255 letters, digits, '.', "
                "'_' or '-', starting with a letter or digit (e.g. 'sklearn-1.5').")

    def _check_pip(self) -> None:
        if isinstance(self.pip, str):
            raise ValidationError(f"Environment.pip must be a list of requirements, got the "
                                  f"string {self.pip!r}; write pip=[{self.pip!r}].")
        if not isinstance(self.pip, list | tuple):
            raise ValidationError(f"Environment.pip must be a list of requirement strings, got "
                                  f"{type(self.pip).__name__}.")
        self.pip = [p.strip() if isinstance(p, str) else p for p in self.pip]
        for req in self.pip:
            if not isinstance(req, str) or not req or req.startswith("-") or "\n" in req:
                raise ValidationError(
                    f"Environment.pip entry {req!r} is not a requirement specifier like "
                    "'scikit-learn>=1.4'. Put pip options (--index-url, -e, -r) in a "
                    "requirements_file instead.")

    def _check_env_vars(self) -> None:
        if not isinstance(self.env_vars, dict):
            raise ValidationError(f"Environment.env_vars must be a dict of str to str, got "
                                  f"{type(self.env_vars).__name__}.")
        for k, v in self.env_vars.items():
            if not isinstance(k, str) or not ENV_VAR_RE.match(k) or not isinstance(v, str):
                raise ValidationError(
                    f"Environment.env_vars entry {k!r}={v!r} is invalid: names must match "
                    "[A-Za-z_][A-Za-z0-9_]* and values must be strings (use str(value)).")

    # identity ----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``default``, ``virtualenv``, ``image`` or ``dockerfile``."""
        if self.dockerfile:
            return "dockerfile"
        if self.image:
            return "image"
        if self.pip or self.requirements or self.python:
            return "virtualenv"
        return "default"

    @property
    def is_default(self) -> bool:
        return self.kind == "default"

    @property
    def is_container(self) -> bool:
        return self.kind in ("image", "dockerfile")

    @property
    def all_requirements(self) -> list[str]:
        """``pip`` followed by the requirements file's lines, without duplicates."""
        return [*self.pip, *[r for r in self.requirements if r not in self.pip]]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pip": list(self.pip),
                "requirements_file": self.requirements_file,
                "requirements": list(self.requirements),
                "python": self.python, "image": self.image, "dockerfile": self.dockerfile,
                "env_vars": dict(self.env_vars), "inherit_packages": self.inherit_packages,
                "version": self.version}

    @property
    def content_hash(self) -> str:
        """Everything but the name and version: equal hashes mean the same environment."""
        doc = self.to_dict()
        for key in ("name", "version", "requirements_file", "pip", "requirements"):
            doc.pop(key)
        doc["packages"] = self.all_requirements
        return _digest(doc)

    @property
    def build_hash(self) -> str:
        """What a node builds (packages, interpreter, image); env_vars are not part of it."""
        container = self.is_container
        doc = {"kind": self.kind, "packages": self.all_requirements, "python": self.python,
               "image": self.image, "dockerfile": self.dockerfile,
               "inherit_packages": None if container else self.inherit_packages}
        return _digest(doc)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        """Rebuild an environment from :meth:`to_dict` (or a run definition's copy of it)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["requirements"] = list(fields.get("requirements") or [])
        file = fields.pop("requirements_file", None)
        env = cls(**fields)
        env.requirements_file = file  # kept for display; its lines are in ``requirements``
        return env

    # registry ----------------------------------------------------------------------------
    def register(self, workspace: Any) -> Environment:
        """Store this environment under its name; returns it with its version set.

        Registering content equal to the latest version returns that version (no new one).
        """
        return _register(workspace, self)

    @classmethod
    def get(cls, workspace: Any, name: str, version: int | None = None) -> Environment:
        """A registered environment: the latest version, or ``version``."""
        return _get(workspace, name, version)

    @classmethod
    def list(cls, workspace: Any) -> dict[str, Environment]:
        """Registered environments, name -> latest version."""
        return {e.name: e for e in _versions(workspace, None, latest_only=True)}

    @classmethod
    def versions(cls, workspace: Any, name: str | None = None) -> builtins.list[Environment]:
        """Every registered version (of ``name``, or of all), oldest first."""
        return _versions(workspace, name)



# registry (table ``environments``) -----------------------------------------------------------
def _record_env(rec: Any) -> Environment:
    env = Environment.from_dict(rec.definition)
    env.name, env.version = rec.name, rec.version
    return env


def _register(ws: Any, env: Environment) -> Environment:
    doc = env.to_dict()
    return _record_env(ws.store.environments.register(env.name, env.content_hash, doc))


def _get(ws: Any, name: str, version: int | None) -> Environment:
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 1):
        raise ValidationError(f"Environment version must be an int >= 1 or None (latest), got "
                              f"{version!r}.")
    repo = ws.store.environments
    rec = repo.get(name, version)
    if rec is not None:
        return _record_env(rec)
    versions = repo.version_numbers(name)
    if versions:
        raise EnvironmentNotFoundError(
            f"{name}:{version}", [f"{name}:{v}" for v in versions],
            hint="Pass one of the registered versions, or version=None for the latest.")
    raise EnvironmentNotFoundError(name, repo.names(),
                                   hint="Register it first: env.register(ws).")


def _versions(ws: Any, name: str | None, latest_only: bool = False) -> list[Environment]:
    envs = [_record_env(r) for r in ws.store.environments.list(name)]
    if latest_only:
        return list({e.name: e for e in envs}.values())
    return envs


def _digest(doc: dict[str, Any]) -> str:
    return doc_digest(doc, 24)


def _read_requirements(path: str | os.PathLike[str]) -> list[str]:
    try:
        with open(path) as fh:
            lines = [ln.strip() for ln in fh]
    except OSError as exc:
        raise ValidationError(f"requirements_file {str(path)!r} cannot be read: "
                              f"{exc.strerror}. Pass the path of a pip requirements file.") \
            from None
    return [ln for ln in lines if ln and not ln.startswith("#")]


def _dockerfile_text(value: Any) -> str:
    if not isinstance(value, str | os.PathLike) or not str(value).strip():
        raise ValidationError(f"Environment.dockerfile must be Dockerfile text or the path of "
                              f"a Dockerfile, got {value!r}.")
    text = str(value)
    if "\n" not in text.strip():
        if not os.path.isfile(text):
            raise ValidationError(
                f"Environment.dockerfile {text!r} is neither Dockerfile text (several lines "
                "starting with FROM) nor the path of an existing file. Pass the file's path or "
                "its contents.")
        with open(text) as fh:
            text = fh.read()
    if not re.search(r"^\s*FROM\s+\S+", text, re.IGNORECASE | re.MULTILINE):
        raise ValidationError("Environment.dockerfile has no FROM line; a Dockerfile must "
                              "start from a base image, e.g. 'FROM cumulus-python:3.11'.")
    return text


def environment_definition(env: Any) -> dict[str, Any] | None:
    """The JSON document a run stores for its environment (with both hashes)."""
    if env is None:
        return None
    if isinstance(env, Environment):
        d = env.to_dict()
        d["hash"] = env.content_hash
        d["build_hash"] = env.build_hash
        d["kind"] = env.kind
        return d
    raise ValidationError(f"environment must be a cumulus.Environment (e.g. "
                          f"Environment(pip=['six']) or Environment.get(ws, 'name')), got "
                          f"{type(env).__name__}.")
