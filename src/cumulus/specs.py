"""Typed run specs: what travels from a configuration to the store and on to a node.

A configuration (``ScriptRunConfig``, a sweep's trial template, a pipeline step) builds a
:class:`ScriptSpec`; it is validated when built, stored as JSON (``to_definition()``) at the
store boundary only, and read back typed on the node (``ScriptSpec.from_definition``). Specs
are versioned (``spec_version``); fields a later layer adds (a sweep's ``trial``, a pipeline
step's ``reuse``) are kept as extras.

Example::

    spec = ScriptSpec(script="train.py", arguments=["--lr", 0.1])
    definition = spec.to_definition()                 # JSON, what the store holds
    ScriptSpec.from_definition(definition).script     # 'train.py'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cumulus.errors import ValidationError as CumulusValidationError

SPEC_VERSION = 1

__all__ = ["SPEC_VERSION", "ScriptSpec", "TaskSpec"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    spec_version: int = SPEC_VERSION

    def to_definition(self) -> dict[str, Any]:
        """The JSON document the store keeps (extras included)."""
        return self.model_dump(mode="json")


class ScriptSpec(_Spec):
    """A script (or command, or Cumulus module) run on one or more nodes."""

    type: Literal["script"] = "script"
    script: str | None = None
    command: list[Any] | None = None
    module: str | None = None
    arguments: list[Any] = Field(default_factory=list)
    max_run_duration_seconds: float | None = None
    resources: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] | None = None
    distribution: dict[str, Any] | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    job_preparation: str | None = None
    snapshot: str | None = None
    source_directory: str | None = None
    share_group: str | None = None
    priority: int = 0
    event_topic: str | None = None

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> ScriptSpec:
        """Read a stored definition back; a malformed one is a CumulusError naming why."""
        try:
            return cls.model_validate({k: v for k, v in definition.items() if v is not None
                                       or k not in cls.model_fields})
        except ValidationError as exc:
            raise CumulusValidationError(f"stored run definition does not parse: {exc}") \
                from None

    @property
    def node_count(self) -> int:
        dist = self.distribution or {}
        return int(dist.get("node_count") or dist.get("worker_count") or 1)

    def replace(self, **changes: Any) -> ScriptSpec:
        """A copy with ``changes`` (validated again)."""
        return ScriptSpec.model_validate({**self.model_dump(), **changes})


class TaskSpec(_Spec):
    """What one Dask task executes: node ``rank`` of ``world`` of run ``run_id`` (``world``
    1: a plain run), under scheduler key ``key``, asking for ``request``; at most
    ``attempt_limit`` starts. Built by the launch layer (``compute/_launch.py``)."""

    run_id: str
    key: str
    request: dict[str, float] = Field(default_factory=dict)
    rank: int = Field(0, ge=0)
    world: int = Field(1, ge=1)
    attempt_limit: int = Field(3, ge=1)
    group: str = ""
    priority: int = 0
