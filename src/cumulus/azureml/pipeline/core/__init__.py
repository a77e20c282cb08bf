"""``azureml.pipeline.core``: Pipeline, PipelineData, PipelineParameter, publishing, schedules.

``Pipeline(ws, steps=[...])`` becomes a native Cumulus pipeline (a Prefect flow whose steps are
child runs, with content-hash reuse): the steps' data dependencies (``PipelineData``,
``OutputFileDatasetConfig``) order them and pull in upstream steps, ``PipelineParameter``s
become the pipeline's parameters. ``exp.submit(pipeline, pipeline_parameters={...})`` returns
a :class:`cumulus.flows.PipelineRun`.
"""

from __future__ import annotations

import builtins
import inspect
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cumulus.azureml._compat import azure_only
from cumulus.azureml.pipeline.core._data import (
    InputRef,
    OutputFileDatasetConfig,
    PipelineData,
    data_of,
    output_of,
)
from cumulus.azureml.pipeline.core.graph import PipelineParameter
from cumulus.errors import PipelineError
from cumulus.flows import PipelineRun
from cumulus.flows import PublishedPipeline as _NativePublished
from cumulus.flows import Schedule as _NativeSchedule
from cumulus.submission import submit_config

if TYPE_CHECKING:
    from cumulus.experiment import Experiment


class StepSequence:
    """Steps that run one after the other (``StepSequence(steps=[a, b, c])``)."""

    def __init__(self, steps: list[Any]) -> None:
        self.steps = list(steps)
        for before, after in zip(self.steps, self.steps[1:], strict=False):
            after.run_after(before)


def _closure(steps: list[Any]) -> list[Any]:
    """``steps`` with every upstream step they read data from, producers first."""
    ordered: list[Any] = []
    seen: set[int] = set()

    def visit(step: Any, path: tuple[int, ...]) -> None:
        if id(step) in path:
            raise PipelineError(f"Steps form a cycle through {step.name!r}.")
        if id(step) in seen:
            return
        for upstream in step._upstream():
            visit(upstream, (*path, id(step)))
        seen.add(id(step))
        ordered.append(step)

    for s in steps:
        for inner in (s.steps if isinstance(s, StepSequence) else [s]):
            visit(inner, ())
    return ordered


def _parameters(steps: list[Any]) -> dict[str, PipelineParameter]:
    found: dict[str, PipelineParameter] = {}
    for step in steps:
        for value in step._values():
            if isinstance(value, PipelineParameter):
                other = found.setdefault(value.name, value)
                if other.default_value != value.default_value:
                    raise PipelineError(f"PipelineParameter {value.name!r} has two defaults: "
                                        f"{other.default_value!r} and {value.default_value!r}.")
    return found


def _build(name: str, steps: list[Any], parameters: dict[str, PipelineParameter],
           description: str | None, continue_on_step_failure: bool) -> Any:
    """A native pipeline whose body records ``steps`` (plain data only: it may be pickled)."""
    from cumulus.flows import Pipeline as _Native

    recipes = [step._recipe() for step in steps]

    def body(**values: Any) -> None:
        outputs: dict[int, Any] = {}
        handles: dict[int, Any] = {}
        for recipe in recipes:
            handles[recipe["id"]] = recipe["record"](values, outputs, handles)

    body.__signature__ = inspect.Signature([  # type: ignore[attr-defined]
        inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default_value)
        for p in parameters.values()])
    body.__name__ = body.__qualname__ = name
    return _Native(body, name=name, description=description,
                   continue_on_step_failure=continue_on_step_failure)


class Pipeline:
    """``Pipeline(workspace, steps)``: the steps and every step they depend on."""

    def __init__(self, workspace: Any, steps: list[Any], description: str | None = None,
                 default_datastore: Any = None, default_source_directory: str | None = None,
                 resolve_closure: bool = True, continue_on_step_failure: bool = False,
                 _workflow_provider: Any = None, _service_endpoint: Any = None,
                 **kwargs: Any) -> None:
        if not steps:
            raise PipelineError("Pipeline(ws, steps) needs at least one step.")
        self.workspace = workspace
        self.steps = _closure(list(steps))
        for step in self.steps:
            step._defaults(default_source_directory)
        self.description = description
        self.continue_on_step_failure = continue_on_step_failure
        self.parameters = _parameters(self.steps)
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", "-".join(s.name for s in self.steps))[:80]
        self._native = _build(name or "pipeline", self.steps, self.parameters, description,
                              continue_on_step_failure)

    def validate(self) -> list[Any]:
        self._native.validate(self.workspace)
        return []

    def submit(self, experiment_name: str, pipeline_parameters: dict[str, Any] | None = None,
               continue_on_step_failure: bool = False, regenerate_outputs: bool = False,
               **_: Any) -> PipelineRun:
        from cumulus.experiment import Experiment

        return Experiment(self.workspace, experiment_name).submit(
            self._native, pipeline_parameters=pipeline_parameters,
            continue_on_step_failure=continue_on_step_failure or None,
            regenerate_outputs=regenerate_outputs)

    def publish(self, name: str | None = None, description: str | None = None,
                version: str | None = None, continue_on_step_failure: bool | None = None,
                ) -> PublishedPipeline:
        native = self._native.publish(self.workspace, name or self._native.name,
                                      description=description)
        return PublishedPipeline(native)

    def __repr__(self) -> str:
        return f"Pipeline(steps={[s.name for s in self.steps]})"


@submit_config.register(Pipeline)
def _submit(config: Pipeline, experiment: Experiment, **options: Any) -> PipelineRun:
    if options.get("continue_on_step_failure") is False:
        options.pop("continue_on_step_failure")
    return experiment.submit(config._native, **options)


class PublishedPipeline:
    """A published pipeline; its ``id`` is its name (``Schedule.create(pipeline_id=...)``)."""

    def __init__(self, native: _NativePublished) -> None:
        self._native = native

    @property
    def id(self) -> str:
        return self._native.name

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def version(self) -> str:
        return str(self._native.version)

    @property
    def description(self) -> str | None:
        return self._native.definition.get("description")

    @property
    def endpoint(self) -> str:
        """The studio's REST trigger (``cumulus ui``): POST with
        ``get_authentication_header()`` and ``{"ExperimentName": ..., "ParameterAssignments":
        {...}}``, as against the managed service."""
        return self._native.endpoint

    @staticmethod
    def get(workspace: Any, id: str) -> PublishedPipeline:
        return PublishedPipeline(_NativePublished.get(workspace, id))

    @staticmethod
    def list(workspace: Any, active_only: bool = True) -> list[PublishedPipeline]:
        return [PublishedPipeline(p) for p in _NativePublished.list(workspace)]

    def submit(self, workspace: Any, experiment_name: str,
               pipeline_parameters: dict[str, Any] | None = None, **_: Any) -> PipelineRun:
        return self._native.submit(experiment_name, pipeline_parameters=pipeline_parameters)

    def disable(self) -> None:
        azure_only("PublishedPipeline.disable", self.name, "delete it to stop its use")

    def enable(self) -> None: ...

    def __repr__(self) -> str:
        return f"PublishedPipeline(id={self.id!r}, version={self.version})"


class PipelineEndpoint:
    """A named entry to published pipelines: here, the published pipeline of that name."""

    @staticmethod
    def publish(workspace: Any, name: str, description: str, pipeline: Any) -> PublishedPipeline:
        if isinstance(pipeline, Pipeline):
            return pipeline.publish(name, description)
        return pipeline

    @staticmethod
    def get(workspace: Any, name: str | None = None, id: str | None = None,
            ) -> PublishedPipeline:
        return PublishedPipeline.get(workspace, name or id or "")


class ScheduleRecurrence:
    """Every ``interval`` ``frequency`` units (Minute, Hour, Day, Week, Month), optionally at
    ``hours``/``minutes`` and on ``week_days``."""

    FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
    DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")

    def __init__(self, frequency: str, interval: int, start_time: Any = None,
                 time_zone: Any = None, hours: list[int] | None = None,
                 minutes: list[int] | None = None, week_days: list[str] | None = None,
                 time_of_day: str | None = None) -> None:
        if frequency not in self.FREQUENCIES:
            raise PipelineError(f"ScheduleRecurrence frequency {frequency!r} is not one of "
                                f"{', '.join(self.FREQUENCIES)}.")
        if not isinstance(interval, int) or interval < 1:
            raise PipelineError(f"ScheduleRecurrence interval must be an int >= 1, got "
                                f"{interval!r}.")
        self.frequency, self.interval = frequency, interval
        self.hours, self.minutes = list(hours or []), list(minutes or [])
        self.week_days = list(week_days or [])
        if time_of_day:
            h, m = time_of_day.split(":")[:2]
            self.hours, self.minutes = [int(h)], [int(m)]
        self.time_zone = getattr(time_zone, "value", time_zone)
        self.start_time = start_time
        azure_only("start_time", start_time if not isinstance(start_time, datetime)
                   else start_time.isoformat(), "the schedule starts now")

    def trigger(self) -> dict[str, Any]:
        """Native ``Schedule.create`` arguments: an interval or a cron line."""
        mins = ",".join(map(str, self.minutes)) or "0"
        hrs = ",".join(map(str, self.hours)) or "0"
        if self.frequency == "Minute":
            return {"interval": 60 * self.interval}
        if self.frequency == "Hour":
            return {"interval": 3600 * self.interval} if not self.minutes else \
                {"cron": f"{mins} */{self.interval} * * *"}
        if self.frequency == "Day":
            return {"cron": f"{mins} {hrs} */{self.interval} * *"}
        if self.frequency == "Week":
            days = ",".join(str(self.DAYS.index(d)) for d in self.week_days) or "0"
            if self.interval != 1:
                azure_only("interval", self.interval, "weekly schedules run every week")
            return {"cron": f"{mins} {hrs} * * {days}"}
        return {"cron": f"{mins} {hrs} 1 */{self.interval} *"}


class Schedule:
    """``Schedule.create(ws, name, pipeline_id, experiment_name, recurrence=...)`` or with
    ``datastore=`` + ``path_on_datastore=`` (runs when files there change)."""

    def __init__(self, native: _NativeSchedule) -> None:
        self._native = native

    @staticmethod
    def create(workspace: Any, name: str, pipeline_id: str, experiment_name: str,
               recurrence: ScheduleRecurrence | None = None, description: str | None = None,
               pipeline_parameters: dict[str, Any] | None = None,
               wait_for_provisioning: bool = False, wait_timeout: int = 3600,
               datastore: Any = None, polling_interval: int = 5,
               data_path_parameter_name: str | None = None,
               continue_on_step_failure: bool | None = None,
               path_on_datastore: str | None = None, **_: Any) -> Schedule:
        pipeline = _NativePublished.get(workspace, pipeline_id).load()
        if recurrence is not None:
            trigger = recurrence.trigger()
        elif datastore is not None:
            trigger = {"datastore": datastore, "path_on_datastore": path_on_datastore,
                       "polling_interval": polling_interval * 60}
        else:
            raise PipelineError("Schedule.create needs recurrence=ScheduleRecurrence(...) or "
                                "datastore= (with path_on_datastore=).")
        native = _NativeSchedule.create(workspace, name, pipeline=pipeline,
                                        parameters=pipeline_parameters,
                                        experiment=experiment_name, description=description,
                                        exist_ok=True, **trigger)
        return Schedule(native)

    @staticmethod
    def get(workspace: Any, id: str, _workflow_provider: Any = None) -> Schedule:
        return Schedule(_NativeSchedule.get(workspace, id))

    @staticmethod
    def list(workspace: Any, active_only: bool = True, pipeline_id: str | None = None,
             **_: Any) -> list[Schedule]:
        out = [Schedule(s) for s in _NativeSchedule.list(workspace)]
        return [s for s in out if not active_only or s.status == "Active"]

    @property
    def id(self) -> str:
        return self._native.name

    @property
    def name(self) -> str:
        return self._native.name

    @property
    def status(self) -> str:
        return "Active" if self._native.enabled else "Disabled"

    @property
    def recurrence(self) -> str:
        return self._native.describe()

    def disable(self, wait_for_provisioning: bool = False, **_: Any) -> None:
        self._native.disable()

    def enable(self, wait_for_provisioning: bool = False, **_: Any) -> None:
        self._native.enable()

    def update(self, name: str | None = None, description: str | None = None,
               recurrence: ScheduleRecurrence | None = None, status: str | None = None,
               **_: Any) -> None:
        if status == "Disabled":
            self.disable()
        elif status == "Active":
            self.enable()
        if recurrence is not None:
            d = self._native.definition
            published = _NativePublished.list(self._native.workspace)
            pipeline = next((p.load() for p in published
                             if p.definition.get("pipeline") == d.get("pipeline")), None)
            if pipeline is None:
                raise PipelineError(f"Schedule {self.name!r}: its published pipeline is gone; "
                                    "create the schedule again.")
            self._native = _NativeSchedule.create(
                self._native.workspace, self.name, pipeline=pipeline,
                parameters=self._native.parameters, experiment=d.get("experiment"),
                description=description or d.get("description"), exist_ok=True,
                **recurrence.trigger())

    def get_pipeline_runs(self) -> builtins.list[PipelineRun]:
        return self._native.get_runs()

    def __repr__(self) -> str:
        return f"Schedule(name={self.name!r}, status={self.status!r}, {self.recurrence})"


__all__ = ["InputRef", "OutputFileDatasetConfig", "Pipeline", "PipelineData",
           "PipelineEndpoint", "PipelineParameter", "PipelineRun", "PublishedPipeline",
           "Schedule", "ScheduleRecurrence", "StepSequence", "data_of", "output_of"]
