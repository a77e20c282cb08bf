"""InferenceConfig (what to run) and deployment configurations (where and how to serve it).

Everything is validated when built, so bad input fails before anything is deployed.

Example::

    ic = InferenceConfig(entry_script="score.py", source_directory="src", environment=env)
    dc = LocalWebservice.deploy_configuration(port=None, auth_enabled=True)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cumulus.environment import Environment
from cumulus.errors import ValidationError

MIB = 1024 * 1024


@dataclass
class InferenceConfig:
    """The scoring code: an entry script defining ``init()`` and ``run(raw_data)``.

    ``init()`` loads the model from the folder in ``$CUMULUS_MODEL_DIR`` (one model: its file
    or folder is directly inside; several models: one sub-folder per model name);
    ``run(raw_data)`` gets the request body as a str and returns something JSON-serialisable.
    Optional module attributes ``input_sample`` / ``output_sample`` become OpenAPI examples.

    Example::

        InferenceConfig(entry_script="score.py", source_directory="src",
                        environment=Environment(env_vars={"THRESHOLD": "0.5"}))
    """

    entry_script: str
    source_directory: str | None = None
    environment: Environment | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.entry_script, str) or not self.entry_script.endswith(".py"):
            raise ValidationError(f"entry_script must name a .py file, got "
                                  f"{self.entry_script!r}.")
        if self.environment is not None and not isinstance(self.environment, Environment):
            raise ValidationError(f"environment must be a cumulus.Environment, got "
                                  f"{type(self.environment).__name__}.")
        root = self.source_root
        script = self.script_path
        if not root.is_dir():
            raise ValidationError(f"source_directory {str(root)!r} does not exist or is not a "
                                  "folder. Pass the folder that holds the entry script.")
        if not script.is_file():
            raise ValidationError(
                f"entry_script {self.entry_script!r} is not a file under source_directory "
                f"{str(root)!r}. Give its path relative to source_directory.")
        if root not in script.parents:
            raise ValidationError(f"entry_script {self.entry_script!r} lies outside "
                                  f"source_directory {str(root)!r}.")
        check_entry_script(script)

    @property
    def source_root(self) -> Path:
        return Path(self.source_directory or ".").resolve()

    @property
    def script_path(self) -> Path:
        return (self.source_root / self.entry_script).resolve()

    @property
    def entry_relpath(self) -> str:
        return self.script_path.relative_to(self.source_root).as_posix()

    def to_dict(self) -> dict[str, Any]:
        return {"entry_script": self.entry_relpath, "source_directory": str(self.source_root),
                "environment": self.environment.to_dict() if self.environment else None}


def check_entry_script(path: Path) -> None:
    """Refuse a script that does not parse or lacks a top-level ``init`` or ``run``."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError as exc:
        raise ValidationError(f"entry_script {path.name!r} does not parse: {exc.msg} "
                              f"(line {exc.lineno}). Fix the syntax error.") from None
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    missing = [n for n in ("init", "run") if n not in defined]
    if missing:
        raise ValidationError(
            f"entry_script {path.name!r} defines no top-level {' or '.join(missing)}(). A "
            "scoring script needs `def init():` (load the model from "
            "os.environ['CUMULUS_MODEL_DIR']) and `def run(raw_data):` (score one request, "
            "return a JSON-serialisable result).")


def _positive(value: Any, what: str, *, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ValidationError(f"{what} must be {kind}, got {value!r}.")
    return value


def check_port(port: Any) -> int | None:
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValidationError(f"port must be an integer 1-65535 or None (a free port), got "
                              f"{port!r}.")
    return port


@dataclass
class DeploymentConfig:
    """Settings shared by every service kind (see the ``deploy_configuration`` factories).

    ``max_request_bytes`` bounds a request body (413 beyond); ``scoring_timeout_seconds``
    bounds ``run()`` (504 beyond: the call keeps its thread until it returns, so a run() that
    never returns holds one of the ``max_concurrency`` threads). ``scoring_timeout_seconds=None``
    runs ``run()`` on the event loop instead of a thread: no timeout and a slow run() delays
    every other request and /health, but a fast model (well under a millisecond) saves the
    thread hand-off. ``host`` is the address to listen on (``0.0.0.0`` for other machines).

    Example::

        LocalWebservice.deploy_configuration(port=8890, max_request_bytes=4 * 2**20,
                                             scoring_timeout_seconds=5)
    """

    port: int | None = None
    auth_enabled: bool = True
    max_request_bytes: int = MIB
    scoring_timeout_seconds: float | None = 60.0
    max_concurrency: int = 8
    host: str = "127.0.0.1"
    kind: str = field(default="local", init=False)

    def __post_init__(self) -> None:
        self.port = check_port(self.port)
        if not isinstance(self.auth_enabled, bool):
            raise ValidationError(f"auth_enabled must be True or False, got "
                                  f"{self.auth_enabled!r}.")
        _positive(self.max_request_bytes, "max_request_bytes", integer=True)
        if self.scoring_timeout_seconds is not None:
            _positive(self.scoring_timeout_seconds, "scoring_timeout_seconds")
        _positive(self.max_concurrency, "max_concurrency", integer=True)
        if not isinstance(self.host, str) or not self.host:
            raise ValidationError(f"host must be an address to listen on such as "
                                  f"'127.0.0.1' or '0.0.0.0', got {self.host!r}.")

    def limits(self) -> dict[str, Any]:
        return {"max_request_bytes": self.max_request_bytes,
                "scoring_timeout_seconds": self.scoring_timeout_seconds,
                "max_concurrency": self.max_concurrency}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "port": self.port, "auth_enabled": self.auth_enabled,
                "host": self.host, **self.limits()}


@dataclass
class LocalDeploymentConfig(DeploymentConfig):
    """A scoring process on this machine (see ``LocalWebservice.deploy_configuration``)."""

    kind: str = field(default="local", init=False)


@dataclass
class DockerDeploymentConfig(DeploymentConfig):
    """A container built from the models, entry script and environment.

    ``base_image`` must hold ``python3`` with its full standard library (not only
    python3-minimal); ``docker_url`` names the engine (default: the environment's DOCKER_HOST).
    The container shares the host network and listens on ``host:port``.
    """

    base_image: str = "cumulus-python:3.11"
    docker_url: str | None = None
    image_name: str | None = None
    kind: str = field(default="docker", init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.base_image, str) or not self.base_image:
            raise ValidationError(f"base_image must name a local image, got "
                                  f"{self.base_image!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "base_image": self.base_image,
                "docker_url": self.docker_url, "image_name": self.image_name}


def config_from_dict(data: dict[str, Any]) -> DeploymentConfig:
    data = dict(data)
    kind = data.pop("kind", "local")
    cls = DockerDeploymentConfig if kind == "docker" else LocalDeploymentConfig
    return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "kind"})
