"""Environment: what a run needs (pip packages or an image), identified by a content hash.

The executor builds it on a node once per hash (see ``cumulus.tasks.environments``).

Example::

    env = Environment("sklearn", pip=["scikit-learn==1.5.2"])
    src = ScriptRunConfig(..., environment=env)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cumulus.errors import ValidationError


@dataclass
class Environment:
    """A run environment; ``None`` everywhere means the worker's own interpreter."""

    name: str = "default"
    pip: list[str] = field(default_factory=list)
    requirements_file: str | None = None
    python: str | None = None
    image: str | None = None
    dockerfile: str | None = None
    env_vars: dict[str, str] = field(default_factory=dict)
    inherit_packages: bool = True
    version: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.pip, str):
            raise ValidationError(f"Environment.pip must be a list of requirements, got the "
                                  f"string {self.pip!r}; write pip=[{self.pip!r}].")
        for req in self.pip:
            if not isinstance(req, str) or not req.strip() or req.strip().startswith("-"):
                raise ValidationError(f"Environment.pip entry {req!r} is not a requirement "
                                      "specifier like 'scikit-learn>=1.4'.")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pip": list(self.pip),
                "requirements": _read_requirements(self.requirements_file),
                "python": self.python, "image": self.image, "dockerfile": self.dockerfile,
                "env_vars": dict(self.env_vars), "inherit_packages": self.inherit_packages,
                "version": self.version}

    @property
    def content_hash(self) -> str:
        doc = self.to_dict()
        doc.pop("name", None)
        doc.pop("version", None)
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]

    @property
    def is_default(self) -> bool:
        return not (self.pip or self.requirements_file or self.python or self.image
                    or self.dockerfile)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Environment:
        data = dict(data)
        reqs = data.pop("requirements", None) or []
        env = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        env.pip = [*env.pip, *[r for r in reqs if r not in env.pip]]
        return env


def _read_requirements(path: str | None) -> list[str]:
    if not path:
        return []
    try:
        with open(path) as fh:
            return [ln.strip() for ln in fh if ln.strip() and not ln.startswith("#")]
    except OSError as exc:
        raise ValidationError(f"requirements_file {path!r} cannot be read: {exc.strerror}.") \
            from None


def environment_definition(env: Any) -> dict[str, Any] | None:
    if env is None:
        return None
    if isinstance(env, Environment):
        d = env.to_dict()
        d["hash"] = env.content_hash
        return d
    raise ValidationError(f"environment must be a cumulus.Environment, got "
                          f"{type(env).__name__}.")
