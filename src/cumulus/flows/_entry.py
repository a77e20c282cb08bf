"""The flow every Cumulus deployment runs: Prefect's Runner executes it for each flow run.

A schedule's or published pipeline's Prefect deployment points here (entrypoint
``cumulus.flows._entry.pipeline_entry``, a module path, so nothing is downloaded). Prefect's
Runner in ``cumulus schedule serve`` starts ``python -m prefect.engine`` for each due flow run
(cron, interval, a datastore trigger, the UI's "Run", ``POST .../create_flow_run``); that
process imports this module and calls the flow with the deployment's parameters, which name
the workspace and the record. The flow

- ends Cancelled when the record is gone or disabled, or when the run was missed (of several
  overdue runs of one cron/interval schedule only the newest runs, so a server that was down
  does not replay a backlog);
- otherwise records a pipeline run for this flow run, prepares the record's frozen pipeline
  with the flow run's parameters and executes it right here, each step a Prefect task run.

Cancelling the flow run in Prefect (UI or API) cancels the pipeline run and its running steps:
the engine sees the flow run Cancelling, and Prefect's Runner stops this process with SIGTERM,
which the engine turns into a cancel of the steps before it exits.

Example (what Prefect's engine does in the flow run's process)::

    pipeline_entry(pipeline_parameters={"lr": 0.1}, cumulus_workspace="/srv/ws",
                   cumulus_source="nightly")
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from cumulus.flows import _records as rec

MAX_PARALLEL_STEPS = 64
_STEPS: Any = ThreadPoolTaskRunner(max_workers=MAX_PARALLEL_STEPS)   # threads made on demand


@flow(name="cumulus-pipeline", task_runner=_STEPS,
      persist_result=False, validate_parameters=False,
      description="Runs a Cumulus schedule's or published pipeline's frozen pipeline")
def pipeline_entry(pipeline_parameters: dict[str, Any] | None = None, trigger: Any = None,
                   cumulus_workspace: str = "", cumulus_source: str = "") -> Any:
    """Execute the record's pipeline for the current flow run; returns its final state."""
    from prefect.runtime import flow_run
    from prefect.states import Cancelled

    from cumulus.workspace import Workspace

    ws = Workspace.from_config(cumulus_workspace or None)
    record = rec.get_record(ws, cumulus_source)
    if record is None or not record.get("enabled", True):
        return Cancelled(message=f"{cumulus_source!r} is disabled or deleted in workspace "
                                 f"{ws.name!r}")
    flow_run_id = str(flow_run.id)
    missed = _missed_by(ws, flow_run_id)
    if missed:
        return Cancelled(message=f"missed: a newer run of this schedule was due ({missed})")
    run_id = rec.create_triggered_run(
        ws, record, {"id": flow_run_id, "parameters": {
            "pipeline_parameters": pipeline_parameters or {}, "trigger": trigger}})
    return _execute(ws, run_id)


def _execute(ws: Any, run_id: str) -> Any:
    from prefect.states import Failed

    from cumulus.flows._engine import Engine
    from cumulus.flows._prepare import load_prepared
    from cumulus.flows._triggered import prepare_triggered
    from cumulus.store.status import RunStatus

    store = ws.store
    try:
        definition = prepare_triggered(ws, store.get_run(run_id))
        prepared = load_prepared(ws, definition["blob"])
    except Exception as exc:
        message = f"the pipeline could not be prepared: {type(exc).__name__}: {exc}"
        store.append_log(run_id, message + "\n")
        store.try_transition(run_id, RunStatus.FAILED, reason=message, error={"message": message})
        return Failed(message=message)
    _name_flow_run(run_id)
    return Engine(ws, run_id, prepared).run_in_flow()


def _name_flow_run(run_id: str) -> None:
    """Name the flow run after the pipeline run, as submitted pipelines are (best effort)."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=run_id)
    except Exception:
        pass


def _missed_by(ws: Any, flow_run_id: str) -> str | None:
    """The id of a newer auto-scheduled run of the same deployment that was due as well when
    this one was claimed, or None (not auto-scheduled, or the newest due one)."""
    import psutil

    from cumulus.flows._prefect import PrefectAPI, resolve_api

    url = resolve_api(ws, start=False)
    if not url:
        return None
    api = PrefectAPI(url)
    try:
        mine = api.flow_run(flow_run_id)
        if not mine or not mine.get("auto_scheduled") or not mine.get("deployment_id"):
            return None
        # the runner started this process when it claimed the run: what was due by then
        claimed = datetime.fromtimestamp(psutil.Process().create_time(), timezone.utc)
        since = _when(mine.get("expected_start_time"))
        for other in api.flow_runs(mine["deployment_id"]):
            due = _when(other.get("expected_start_time"))
            if (other["id"] != flow_run_id and other.get("auto_scheduled")
                    and since is not None and due is not None and since < due <= claimed):
                return str(other["id"])
        return None
    finally:
        api.close()


def _when(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None
