"""The ``cumulus.yaml`` schema, validated with pydantic.

An unknown or malformed key raises :class:`~cumulus.errors.ConfigError` naming the key, the
allowed keys and the likely fix.

Example ``cumulus.yaml``::

    name: demo
    store: postgresql://cumulus@db:5432/cumulus     # default: SQLite under .cumulus/
    default_datastore: blob
    datastores:
      blob: {url: "az://data/cumulus", credential_env: AZURE_STORAGE_CONNECTION_STRING}
    prefect_api_url: http://127.0.0.1:4200/api
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from cumulus.errors import ConfigError, allowed_list, did_you_mean

CONFIG_FILE = "cumulus.yaml"
DEFAULT_DATASTORE = "workspacestore"
DEFAULT_COMPUTE = "local"


class DatastoreSpec(BaseModel):
    """A datastore declared in cumulus.yaml; secrets are named by env var, never inlined."""

    model_config = ConfigDict(extra="forbid")
    url: str
    credential_env: str | None = None
    account_name: str | None = None
    storage_options: dict[str, Any] = Field(default_factory=dict)


class LocalComputeSpec(BaseModel):
    """Settings of the built-in ``local`` compute target."""

    model_config = ConfigDict(extra="forbid")
    min_nodes: int = Field(default=0, ge=0)
    max_nodes: int | None = Field(default=None, ge=1)
    idle_seconds_before_scaledown: float = Field(default=120, ge=0)
    cpus_per_node: int = Field(default=1, ge=1)


class WorkspaceConfig(BaseModel):
    """Everything cumulus.yaml may contain."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    store: str | None = None
    default_datastore: str = DEFAULT_DATASTORE
    datastores: dict[str, DatastoreSpec] = Field(default_factory=dict)
    default_compute: str = DEFAULT_COMPUTE
    local_compute: LocalComputeSpec = Field(default_factory=LocalComputeSpec)
    prefect_api_url: str | None = None

    @field_validator("name")
    @classmethod
    def _name_chars(cls, v: str) -> str:
        if not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("use letters, digits, '-', '_' or '.'")
        return v


def _fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def parse_config(data: Any, source: str) -> WorkspaceConfig:
    """Validate a loaded YAML document, turning pydantic errors into actionable ConfigErrors."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a mapping of keys to values, got {type(data).__name__}. "
            f"Allowed keys: {allowed_list(_fields(WorkspaceConfig))}. "
            "Recreate it with: cumulus init")
    try:
        return WorkspaceConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise ConfigError(_explain(exc, source)) from None


def _explain(exc: PydanticValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        model: type[BaseModel] = WorkspaceConfig
        if loc and loc[0] == "datastores" and len(loc) > 2:
            model = DatastoreSpec
        elif loc and loc[0] == "local_compute":
            model = LocalComputeSpec
        if err["type"] == "extra_forbidden":
            allowed = _fields(model)
            lines.append(f"  - unknown key {key!r}. Allowed keys here: {allowed_list(allowed)}."
                         + did_you_mean(loc[-1], allowed))
        else:
            lines.append(f"  - {key}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def load_config(path: Path) -> WorkspaceConfig:
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{path} is not valid YAML: {exc}. Fix the syntax, or recreate it with: cumulus init"
        ) from None
    return parse_config(data, str(path))


def dump_config(config: WorkspaceConfig) -> str:
    import yaml

    data = config.model_dump(exclude_defaults=True, mode="json")
    data = {"name": config.name, **{k: v for k, v in data.items() if k != "name"}}
    return yaml.safe_dump(data, sort_keys=False)
