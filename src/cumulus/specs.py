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

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from cumulus.errors import ValidationError as CumulusValidationError

SPEC_VERSION = 1

__all__ = ["SPEC_VERSION", "PipelineSpec", "RunSpec", "ScriptSpec", "StepInfo", "SweepSpec",
           "TaskSpec", "parse_run_spec"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    spec_version: int = SPEC_VERSION

    def to_definition(self) -> dict[str, Any]:
        """The JSON document the store keeps (extras included; a value JSON cannot hold is
        kept as its ``str()``, as the store would)."""
        return self.model_dump(mode="json", fallback=str)


class StepInfo(BaseModel):
    """What a pipeline step run records of its step (its kind and code identity)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str
    code: str | None = None
    snapshot: str | None = None


class ScriptSpec(_Spec):
    """A script (or command, or Cumulus module) run on one or more nodes; a pipeline step's
    run carries its ``step``."""

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
    step: StepInfo | None = None

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


class SweepSpec(_Spec):
    """A hyperparameter sweep: how trials are sampled, judged and bounded, and the trial
    template (``run_config``). The sweep run's own record leaves out the warm-start rows
    (``warm_start_trials`` counts them)."""

    type: Literal["sweep"] = "sweep"
    version: int = 1
    sampling: dict[str, Any]
    policy: dict[str, Any] = Field(default_factory=dict)
    primary_metric_name: str
    primary_metric_goal: str
    primary_metric_summary: str | None = None
    max_total_runs: int | None = Field(None, ge=1)
    max_concurrent_runs: int | None = Field(None, ge=1)
    max_duration_minutes: float | None = None
    resume_from: list[str] = Field(default_factory=list)
    run_config: dict[str, Any] = Field(default_factory=dict)
    trial_template: dict[str, Any] | None = None     # the controller's copy only
    warm_start: list[dict[str, Any]] = Field(default_factory=list)   # the controller's only
    warm_start_trials: int = 0
    finisher: str | None = None
    step: StepInfo | None = None

    @classmethod
    def from_definition(cls, definition: dict[str, Any]) -> SweepSpec:
        return _validated(cls.model_validate, definition, "sweep")


class PipelineSpec(_Spec):
    """A pipeline run: its traced graph, the order its steps run in, its parameters and
    what to regenerate; ``blob`` locates the pickled steps on the default datastore. A run
    triggered by a schedule or a REST call starts with ``source`` (the schedule or published
    pipeline) and its requested parameters only, until its flow prepares it."""

    type: Literal["pipeline"] = "pipeline"
    pipeline: str | None = None
    source: str | None = None
    graph: dict[str, Any] = Field(default_factory=dict)
    order: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    payloads: dict[str, Any] = Field(default_factory=dict)
    regenerate_outputs: bool | list[str] = False
    regenerate_steps: list[str] = Field(default_factory=list)
    rerun_of: str | None = None
    continue_on_step_failure: bool = False
    outputs: Any = None
    blob: str | None = None


#: one spec per run kind, told apart by ``type``
RunSpec = Annotated[ScriptSpec | SweepSpec | PipelineSpec, Field(discriminator="type")]
_RUN_SPEC: TypeAdapter[ScriptSpec | SweepSpec | PipelineSpec] = TypeAdapter(RunSpec)


def parse_run_spec(definition: dict[str, Any]) -> ScriptSpec | SweepSpec | PipelineSpec:
    """The typed spec of a stored definition, by its ``type`` (``script`` when missing).

    >>> parse_run_spec({"type": "sweep", ...}).primary_metric_name      # doctest: +SKIP
    """
    doc = {"type": "script", **{k: v for k, v in definition.items() if v is not None}}
    return _validated(_RUN_SPEC.validate_python, doc, "run")


def _validated(validate: Any, doc: dict[str, Any], what: str) -> Any:
    """``validate(doc)``; a pydantic error becomes a CumulusError naming what is wrong."""
    try:
        return validate(doc)
    except ValidationError as exc:
        raise CumulusValidationError(f"stored {what} definition does not parse: {exc}") \
            from None


class TaskSpec(_Spec):
    """What one Dask task executes: node ``rank`` of ``world`` of run ``run_id`` (``world``
    1: a plain run), under scheduler key ``key``, asking for ``request``; at most
    ``attempt_limit`` starts. Built by the launch layer (``compute/_launch.py``)."""

    run_id: str
    key: str
    request: dict[str, float] = Field(default_factory=dict)
    rank: int = Field(0, ge=0)
    world: int = Field(1, ge=1)
    distributed: bool = False   # its nodes rendezvous (a distributed run, even on one node)
    attempt_limit: int = Field(3, ge=1)
    group: str = ""
    priority: int = 0
