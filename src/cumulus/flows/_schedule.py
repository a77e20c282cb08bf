"""Schedule: run a pipeline on a cron expression, an interval, or when data changes.

A schedule is recorded in the store and mirrored as a Prefect deployment; ``cumulus schedule
serve`` (a Prefect server's scheduler plus a small runner) starts its runs. A datastore-change
schedule polls a path on any datastore every ``polling_interval`` seconds and triggers one run
per batch of added or changed files; the run's properties record which files changed.
Everything is validated at creation (cron syntax, parameters against the pipeline, compute
targets, datastores), before anything is scheduled.

Example::

    Schedule.create(ws, "nightly", pipeline=train_pipeline, cron="0 2 * * *",
                    parameters={"lr": 0.05})
    Schedule.create(ws, "on-new-data", pipeline=train_pipeline, datastore=blob,
                    path_on_datastore="incoming/", polling_interval=60)
    for s in Schedule.list(ws):
        print(s.name, s.kind, s.enabled, s.next_run_times(2))
    Schedule.get(ws, "nightly").disable()
"""

from __future__ import annotations

import builtins
import math
import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from cumulus.errors import PipelineError, ScheduleNotFoundError
from cumulus.flows import _records as rec

if TYPE_CHECKING:
    from cumulus.flows._pipeline import Pipeline, PipelineRun
    from cumulus.workspace import Workspace


def check_cron(cron: Any, timezone_name: str = "UTC") -> None:
    """Raise a PipelineError for an invalid cron expression or time zone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from croniter import croniter

    if not isinstance(cron, str) or not croniter.is_valid(cron):
        why = ""
        try:
            croniter(str(cron))
        except Exception as exc:
            why = f" ({exc})"
        raise PipelineError(
            f"cron expression {cron!r} is invalid{why}. Use five fields 'minute hour "
            "day-of-month month day-of-week', e.g. '0 2 * * *' for 02:00 every day or "
            "'*/15 * * * *' for every 15 minutes.")
    try:
        ZoneInfo(timezone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PipelineError(f"timezone {timezone_name!r} is unknown; use an IANA name such as "
                            "'UTC' or 'Europe/Berlin'.") from None


def _seconds(value: Any, what: str, minimum: float) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if not isinstance(value, int | float) or isinstance(value, bool) or \
            not math.isfinite(value) or value < minimum:
        raise PipelineError(f"{what} must be a number of seconds >= {minimum:g} (or a "
                            f"timedelta), got {value!r}.")
    return float(value)


def _trigger_definition(cron: Any, interval: Any, datastore: Any, path: Any,
                        polling_interval: Any, tz: str) -> tuple[str, dict[str, Any]]:
    given = [k for k, v in (("cron", cron), ("interval", interval), ("datastore", datastore))
             if v is not None]
    if len(given) != 1:
        raise PipelineError(
            "Schedule.create needs exactly one of cron='0 2 * * *', interval=<seconds> or "
            f"datastore=<Datastore> with path_on_datastore=...; got {', '.join(given) or 'none'}.")
    if cron is not None:
        check_cron(cron, tz)
        return "cron", {"cron": cron, "timezone": tz}
    if interval is not None:
        return "interval", {"interval": _seconds(interval, "interval", 1),
                            "anchor": datetime.now(timezone.utc).isoformat()}
    return "datastore", _datastore_definition(datastore, path, polling_interval)


def _datastore_definition(datastore: Any, path: Any, polling_interval: Any) -> dict[str, Any]:
    from cumulus.datastores import check_relative

    name = getattr(datastore, "name", datastore)
    if not isinstance(name, str):
        raise PipelineError(f"datastore must be a Datastore or its name, got {datastore!r}.")
    if not isinstance(path, str):
        raise PipelineError("A datastore schedule needs path_on_datastore='incoming/' (the "
                            "folder or file to watch).")
    return {"datastore": name, "path_on_datastore": check_relative(path),
            "polling_interval": _seconds(polling_interval, "polling_interval", 1)}


class Schedule:
    """A pipeline schedule recorded in the workspace; see the module docstring."""

    def __init__(self, ws: Workspace, record: dict[str, Any]) -> None:
        self.workspace = ws
        self._record = record

    # creation ------------------------------------------------------------------------------
    @classmethod
    def create(cls, ws: Workspace, name: str, *, pipeline: Pipeline,
               cron: str | None = None, interval: float | timedelta | None = None,
               timezone: str = "UTC", parameters: dict[str, Any] | None = None,
               datastore: Any = None, path_on_datastore: str | None = None,
               polling_interval: float = 60, experiment: str | None = None,
               description: str | None = None, exist_ok: bool = False) -> Schedule:
        """Validate and record the schedule, and register it with Prefect if it is running."""
        from cumulus.flows._pipeline import Pipeline
        from cumulus.flows._prepare import prepare

        rec.check_name(name, "Schedule")
        if not isinstance(pipeline, Pipeline):
            raise PipelineError(f"Schedule {name!r}: pipeline must be a @pipeline function, "
                                f"got {type(pipeline).__name__}.")
        kind, trigger = _trigger_definition(cron, interval, datastore, path_on_datastore,
                                            polling_interval, timezone)
        if rec.get_record(ws, name) is not None and not exist_ok:
            raise PipelineError(f"Schedule {name!r} exists already. Delete it first "
                                "(Schedule.get(ws, name).delete()) or pass exist_ok=True to "
                                "replace it.")
        prepared = prepare(pipeline, ws, parameters, pin=False)
        state: dict[str, Any] = {}
        if kind == "datastore":
            state = {"baseline": _listing(ws, trigger), "last_poll": time.time()}
        definition = {"pipeline": pipeline.name, "experiment": experiment or pipeline.name,
                      "parameters": prepared.parameters, "description": description or "",
                      "pipeline_blob": rec.save_pipeline(ws, pipeline, prepared),
                      "pipeline_ref": f"{pipeline.__module__}:{pipeline.fn.__qualname__}",
                      **trigger}
        rec.put_record(ws, name, kind=kind, definition=definition, state=state, enabled=True)
        rec.try_register(ws, name)
        return cls.get(ws, name)

    @classmethod
    def get(cls, ws: Workspace, name: str) -> Schedule:
        record = rec.get_record(ws, name)
        if record is None or record["kind"] not in rec.SCHEDULE_KINDS:
            raise ScheduleNotFoundError(name, [s.name for s in cls.list(ws)],
                                        hint="List them with Schedule.list(ws) or "
                                             "`cumulus schedule list`.")
        return cls(ws, record)

    @classmethod
    def list(cls, ws: Workspace) -> list[Schedule]:
        return [cls(ws, r) for r in rec.list_records(ws) if r["kind"] in rec.SCHEDULE_KINDS]

    # properties ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._record["name"])

    @property
    def kind(self) -> str:
        return str(self._record["kind"])

    @property
    def enabled(self) -> bool:
        return bool(self._record.get("enabled", True))

    @property
    def definition(self) -> dict[str, Any]:
        return dict(self._record["definition"])

    @property
    def state(self) -> dict[str, Any]:
        return dict(self._record.get("state") or {})

    @property
    def pipeline_name(self) -> str:
        return str(self.definition["pipeline"])

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self.definition.get("parameters") or {})

    @property
    def deployment_id(self) -> str | None:
        return self.state.get("deployment_id")

    def describe(self) -> str:
        d = self.definition
        if self.kind == "cron":
            return f"cron {d['cron']} ({d.get('timezone') or 'UTC'})"
        if self.kind == "interval":
            return f"every {d['interval']:g} s"
        return (f"on changes in {d['datastore']}:{d['path_on_datastore']} (polled every "
                f"{d['polling_interval']:g} s)")

    def next_run_times(self, count: int = 3,
                       after: datetime | None = None) -> builtins.list[datetime]:
        """When the next ``count`` runs are due (none for datastore schedules)."""
        return next_times(self.kind, self.definition, count,
                          after or datetime.now(timezone.utc))

    # changes -------------------------------------------------------------------------------
    def _refresh(self) -> None:
        record = rec.get_record(self.workspace, self.name)
        if record is None:
            raise ScheduleNotFoundError(self.name, [s.name for s in Schedule.list(
                self.workspace)])
        self._record = record

    def disable(self) -> None:
        """Stop starting runs (runs in progress continue); the deployment is paused."""
        self._set_enabled(False)

    def enable(self) -> None:
        self._set_enabled(True)

    def _set_enabled(self, enabled: bool) -> None:
        self._refresh()
        rec.put_record(self.workspace, self.name, enabled=enabled)
        rec.try_register(self.workspace, self.name)
        self._refresh()

    def delete(self) -> None:
        """Forget the schedule and delete its Prefect deployment."""
        self._refresh()
        rec.try_unregister(self.workspace, self._record)
        rec.delete_record(self.workspace, self.name)

    def get_runs(self) -> builtins.list[PipelineRun]:
        """Pipeline runs this schedule started, newest first."""
        from cumulus.flows._pipeline import PipelineRun
        from cumulus.run import Run

        runs = []
        for r in self.workspace.store.list_runs(kind="pipeline"):
            if (r.get("properties") or {}).get("schedule") == self.name:
                base = Run._get(self.workspace, r["id"])
                runs.append(PipelineRun(base.experiment, r["id"], _record=r))
        return runs

    def backfill_times(self, start: datetime, end: datetime) -> builtins.list[datetime]:
        """When the schedule was due in ``[start, end)``; refused for datastore schedules."""
        if self.kind not in ("cron", "interval"):
            raise PipelineError(f"Schedule {self.name!r} runs on datastore changes; only cron "
                                "and interval schedules can be backfilled.")
        return due_between(self.kind, self.definition, _aware(start), _aware(end))

    def backfill(self, start: datetime, end: datetime, *, yes: bool = False,
                 ) -> builtins.list[PipelineRun]:
        """One pipeline run per time the schedule was due in ``[start, end)``, oldest first.

        Each run gets its due time as the ``scheduled_time`` parameter when the pipeline
        declares one (an ISO 8601 string), and always as its ``scheduled_time`` property and
        tag. More than :data:`BACKFILL_CONFIRM` runs need ``yes=True``.
        """
        from cumulus.experiment import Experiment
        from cumulus.flows._submit import submit_pipeline

        times = self.backfill_times(start, end)
        if not times:
            raise PipelineError(f"Schedule {self.name!r} ({self.describe()}) was not due "
                                f"between {_aware(start).isoformat()} and "
                                f"{_aware(end).isoformat()}; nothing to backfill.")
        if len(times) > BACKFILL_CONFIRM and not yes:
            raise PipelineError(f"Backfilling {self.name!r} from {times[0].isoformat()} to "
                                f"{times[-1].isoformat()} makes {len(times):,}"
                                f"{'+' if len(times) > 100_000 else ''} runs, more than "
                                f"{BACKFILL_CONFIRM}; pass yes=True (--yes) to go ahead, or "
                                "narrow the window.")
        pipeline = rec.load_pipeline(self.workspace, self.definition["pipeline_blob"])
        takes_time = "scheduled_time" in pipeline.parameters()
        exp = Experiment(self.workspace, self.definition["experiment"])
        runs = []
        for due in times:
            stamp = due.isoformat()
            params = {**self.parameters, **({"scheduled_time": stamp} if takes_time else {})}
            runs.append(submit_pipeline(
                pipeline, exp, pipeline_parameters=params,
                tags={"scheduled_time": stamp, "backfill": self.name},
                properties={"schedule": self.name, "scheduled_time": stamp, "backfill": True}))
        return runs

    def __repr__(self) -> str:
        return (f"Schedule({self.name!r}, pipeline={self.pipeline_name!r}, {self.describe()}, "
                f"enabled={self.enabled})")


BACKFILL_CONFIRM = 1000


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def due_between(kind: str, definition: dict[str, Any], start: datetime,
                end: datetime) -> builtins.list[datetime]:
    """Due times of a cron or interval schedule in ``[start, end)`` (pure); stops counting
    past 100,000 so that a mistaken window cannot hang the caller.

    >>> t = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> [d.hour for d in due_between("cron", {"cron": "0 */6 * * *"}, t, t + timedelta(1))]
    [0, 6, 12, 18]
    """
    if end <= start:
        raise PipelineError(f"The backfill window ends ({end.isoformat()}) before it starts "
                            f"({start.isoformat()}).")
    out: builtins.list[datetime] = []
    after = start - timedelta(microseconds=1)
    while len(out) <= 100_000:
        batch = next_times(kind, definition, 500, after)
        for due in batch:
            if due >= end:
                return out
            out.append(due)
        after = batch[-1]
    return out


def next_times(kind: str, definition: dict[str, Any], count: int,
               after: datetime) -> builtins.list[datetime]:
    """Next due times of a cron or interval schedule after ``after`` (pure)."""
    if kind == "cron":
        from zoneinfo import ZoneInfo

        from croniter import croniter

        it = croniter(definition["cron"],
                      after.astimezone(ZoneInfo(definition.get("timezone") or "UTC")))
        return [it.get_next(datetime) for _ in range(count)]
    if kind == "interval":
        step = timedelta(seconds=float(definition["interval"]))
        anchor = datetime.fromisoformat(definition["anchor"])
        n = max(0, math.floor((after - anchor) / step) + 1)
        return [anchor + step * (n + i) for i in range(count)]
    return []


def _listing(ws: Workspace, trigger: dict[str, Any]) -> dict[str, str]:
    from cumulus.datastores import Datastore
    from cumulus.flows._data import list_entries
    from cumulus.flows._reuse import file_marker

    ds = Datastore.get(ws, trigger["datastore"])
    return {rel: file_marker(info) for rel, info in list_entries(ds, trigger["path_on_datastore"])}
