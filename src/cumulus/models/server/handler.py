"""What the scoring server serves: the spec, the key check, and the loaded entry script.

Everything here is immutable once built; a reload builds new objects and the server swaps the
references, so a request always sees one consistent (handler, auth, limits) triple.

Example::

    spec = Spec.load("spec.json")
    handler = load_handler(spec)        # imports the entry script and calls init()
    handler.run('{"data": [[1, 2]]}')
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HASH_PREFIX = "sha256:"
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
DEFAULT_SCORING_TIMEOUT = 60.0
DEFAULT_MAX_CONCURRENCY = 8


def hash_key(key: str) -> str:
    """The stored form of a service key: ``sha256:<hex>`` (keys are 256-bit random tokens)."""
    return HASH_PREFIX + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Auth:
    """Key auth: a request passes when its bearer key hashes to one of ``digests``."""

    enabled: bool = False
    digests: tuple[bytes, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Auth:
        data = data or {}
        hashes = [h for h in data.get("key_hashes") or [] if h]
        digests = tuple(bytes.fromhex(h[len(HASH_PREFIX):]) for h in hashes
                        if h.startswith(HASH_PREFIX))
        enabled = bool(data.get("enabled"))
        if enabled and not digests:
            raise ValueError("auth is enabled but the spec holds no key hashes")
        return cls(enabled=enabled, digests=digests)

    def check(self, authorization: bytes | None) -> bool:
        """Constant-time check of an ``Authorization: Bearer <key>`` header value."""
        if not self.enabled:
            return True
        if not authorization:
            return False
        scheme, _, key = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            key = authorization  # also accept the bare key
        presented = hashlib.sha256(key.strip()).digest()
        ok = False
        for digest in self.digests:  # compare with every key: no early exit
            ok |= hmac.compare_digest(presented, digest)
        return ok


@dataclass(frozen=True)
class Limits:
    """Per-request limits of the scoring endpoint."""

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    scoring_timeout: float | None = DEFAULT_SCORING_TIMEOUT   # None: run() on the event loop
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Limits:
        data = data or {}
        return cls(
            max_request_bytes=int(data.get("max_request_bytes") or DEFAULT_MAX_REQUEST_BYTES),
            scoring_timeout=_timeout(data.get("scoring_timeout_seconds", DEFAULT_SCORING_TIMEOUT)),
            max_concurrency=int(data.get("max_concurrency") or DEFAULT_MAX_CONCURRENCY))


def _timeout(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Spec:
    """The service spec file (written by the deployer), merged with an optional overlay file.

    The overlay carries what is per container rather than per image (the key hashes, the
    revision), so one image serves many services.
    """

    service: str
    revision: int
    entry_script: str
    source_directory: str
    model_dir: str
    env_vars: dict[str, str] = field(default_factory=dict)
    auth: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, overlay: str | Path | None = None) -> Spec:
        data = json.loads(Path(path).read_text())
        if overlay is not None and Path(overlay).is_file():
            data.update(json.loads(Path(overlay).read_text()))
        base = Path(path).parent
        return cls(
            service=str(data.get("service", "service")),
            revision=int(data.get("revision", 1)),
            entry_script=str(base / data["entry_script"]),
            source_directory=str(base / data["source_directory"]),
            model_dir=str(base / data["model_dir"]),
            env_vars={str(k): str(v) for k, v in (data.get("env_vars") or {}).items()},
            auth=dict(data.get("auth") or {}), limits=dict(data.get("limits") or {}), raw=data)

    @property
    def code_identity(self) -> tuple[str, str, str, str]:
        """What forces a new handler (re-import and init) when it changes."""
        return (self.entry_script, self.source_directory, self.model_dir,
                json.dumps(self.env_vars, sort_keys=True))


class EntryScriptError(Exception):
    """The entry script cannot be imported, lacks init()/run(), or init() failed."""


@dataclass(frozen=True)
class Handler:
    """A loaded entry script: ``run(raw_data)`` plus what the OpenAPI document shows."""

    revision: int
    run: Callable[[str], Any]
    module: ModuleType
    source_directory: str
    identity: tuple[str, str, str, str]
    env_vars: tuple[str, ...] = ()
    input_sample: Any = None
    output_sample: Any = None


def load_handler(spec: Spec, previous: Handler | None = None) -> Handler:
    """Import the spec's entry script as a fresh module and call its ``init()``."""
    for name in previous.env_vars if previous else ():
        if name not in spec.env_vars:  # dropped from the environment: unset it
            os.environ.pop(name, None)
    os.environ.update(spec.env_vars)
    os.environ["CUMULUS_MODEL_DIR"] = spec.model_dir
    os.environ["AZUREML_MODEL_DIR"] = spec.model_dir  # what scoring scripts of the SDK v1 read
    _switch_source_dir(spec.source_directory, previous.source_directory if previous else None)
    module = _import_entry(spec)
    init, run = getattr(module, "init", None), getattr(module, "run", None)
    missing = [n for n, f in (("init", init), ("run", run)) if not callable(f)]
    if missing:
        raise EntryScriptError(
            f"entry script {Path(spec.entry_script).name!r} defines no {' or '.join(missing)}() "
            "function; a scoring script needs init() (load the model from "
            "$CUMULUS_MODEL_DIR) and run(raw_data) (score one request)")
    assert init is not None and run is not None
    run = _with_schema(run)
    _check_run_signature(run)
    try:
        init()
    except Exception as exc:
        raise EntryScriptError(f"init() raised {type(exc).__name__}: {exc}") from exc
    return Handler(revision=spec.revision, run=run, module=module,
                   source_directory=spec.source_directory, identity=spec.code_identity,
                   env_vars=tuple(spec.env_vars),
                   input_sample=getattr(module, "input_sample", None),
                   output_sample=getattr(module, "output_sample", None))


def _import_entry(spec: Spec) -> ModuleType:
    name = f"_cumulus_entry_{spec.revision}"
    file_spec = importlib.util.spec_from_file_location(name, spec.entry_script)
    if file_spec is None or file_spec.loader is None:
        raise EntryScriptError(f"entry script {spec.entry_script!r} cannot be imported")
    module = importlib.util.module_from_spec(file_spec)
    sys.modules[name] = module
    try:
        file_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise EntryScriptError(
            f"importing entry script {Path(spec.entry_script).name!r} raised "
            f"{type(exc).__name__}: {exc}") from exc
    return module


def _with_schema(run: Callable[..., Any]) -> Callable[..., Any]:
    """A ``run`` decorated with the ``inference_schema`` package's ``@input_schema`` takes its
    parameters by name from the JSON body (``{"data": [...]}`` -> ``run(data=...)``), which its
    decorators convert to the declared types; an undecorated ``run`` gets the raw body."""
    if "inference_schema" not in sys.modules:  # only when the entry script uses it
        return run
    # imported by name: this package is copied into images and imports only the stdlib,
    # FastAPI and uvicorn itself
    schema_util = importlib.import_module("inference_schema.schema_util")
    get_input_schema = schema_util.get_input_schema
    if not schema_util.is_schema_decorated(run) or not get_input_schema(run):
        return run

    def run_with_schema(raw_data: str) -> Any:
        body = json.loads(raw_data) if raw_data else {}
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object naming run()'s "
                             f"parameters: {sorted(get_input_schema(run).get('properties', {}))}")
        return run(**body)

    return run_with_schema


def _check_run_signature(run: Callable[..., Any]) -> None:
    try:
        sig = inspect.signature(run)
        sig.bind("{}")
    except TypeError as exc:
        raise EntryScriptError(
            f"run{sig} cannot be called with one argument (the raw request body): {exc}; "
            "define it as run(raw_data)") from None
    except ValueError:  # builtins without a signature: trust them
        pass


def _switch_source_dir(new: str, old: str | None) -> None:
    """Put ``new`` first on sys.path; forget modules imported from ``old`` (a new version)."""
    if old and old != new:
        if old in sys.path:
            sys.path.remove(old)
        prefix = os.path.join(old, "")
        for mod_name, mod in list(sys.modules.items()):
            file = getattr(mod, "__file__", None) or ""
            if file.startswith(prefix):
                del sys.modules[mod_name]
    if new not in sys.path:
        sys.path.insert(0, new)
