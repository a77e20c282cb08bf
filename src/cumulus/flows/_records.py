"""Schedules and published pipelines in the store, and their Prefect deployments.

Both live in the ``schedules`` table: a schedule under its own name (kind ``cron``,
``interval`` or ``datastore``), a published pipeline under ``pipeline:<name>`` (kind
``published``). The pipeline itself is cloudpickled by value onto the default datastore, so a
schedule keeps working when its defining module (a notebook, a script) is gone.

Each record is mirrored as a Prefect deployment of the flow named after the pipeline (tagged
``cumulus`` and with the workspace's tag), which shows it in the UI, fires cron/interval
schedules, and lets anyone trigger it over Prefect's REST API
(``POST /api/deployments/<id>/create_flow_run``).

Example::

    location = save_pipeline(ws, train_pipeline, prepared)
    deployment_id = register(ws, PrefectAPI(url), get_record(ws, "nightly"))
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from cumulus._hashing import doc_digest
from cumulus.errors import PipelineError

if TYPE_CHECKING:
    from cumulus.flows._pipeline import Pipeline
    from cumulus.flows._prefect import PrefectAPI
    from cumulus.flows._prepare import PreparedPipeline
    from cumulus.workspace import Workspace

PUBLISHED_PREFIX = "pipeline:"
SCHEDULE_KINDS = ("cron", "interval", "datastore")
TAG = "cumulus"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise PipelineError(f"{what} name {name!r} is invalid: use 1-100 letters, digits, '-', "
                            "'_' or '.', starting with a letter or digit.")
    return name


def ws_tag(ws: Workspace) -> str:
    return "cumulus-ws-" + hashlib.sha1(ws.store_url.encode()).hexdigest()[:10]


def _model() -> Any:
    from cumulus.store import models as m

    return m.ScheduleRecord


def get_record(ws: Workspace, key: str) -> dict[str, Any] | None:
    return ws.store.records.get(_model(), key)


def list_records(ws: Workspace) -> list[dict[str, Any]]:
    return ws.store.records.list(_model())


def put_record(ws: Workspace, key: str, **values: Any) -> None:
    ws.store.records.put(_model(), key, **values)


def delete_record(ws: Workspace, key: str) -> bool:
    return ws.store.records.delete(_model(), key)


def merge_state(ws: Workspace, key: str, **state: Any) -> None:
    record = get_record(ws, key)
    if record is not None:
        put_record(ws, key, state={**(record.get("state") or {}), **state})


def save_pipeline(ws: Workspace, pipeline: Pipeline, prepared: PreparedPipeline) -> str:
    """Cloudpickle ``pipeline`` (its modules by value) onto the default datastore."""
    from cumulus.flows._code import dumps_by_value

    owners = [pipeline.fn, *(getattr(p, "fn", None) for p in prepared.payloads.values())]
    blob = dumps_by_value(pipeline, [o for o in owners if o is not None])
    location = f"pipelines/_published/{hashlib.sha256(blob).hexdigest()[:24]}.pkl"
    ds = ws.get_default_datastore()
    target = ds.full_path(location)
    if not ds.fs.exists(target):
        with ds.fs.open(target, "wb") as fh:
            fh.write(blob)
    return location


def load_pipeline(ws: Workspace, location: str) -> Pipeline:
    import cloudpickle

    ds = ws.get_default_datastore()
    with ds.fs.open(ds.full_path(location), "rb") as fh:
        pipeline: Pipeline = cloudpickle.loads(fh.read())
    return pipeline


def deployment_name(ws: Workspace, record: dict[str, Any]) -> str:
    """The record's deployment name, unique on a Prefect server that several workspaces
    share: ``schedule-nightly (demo 3f2a1c)`` (workspace name and store hash)."""
    if record["kind"] == "published":
        base = "published-" + record["name"][len(PUBLISHED_PREFIX):]
    else:
        base = "schedule-" + record["name"]
    return f"{base} ({ws.name} {ws_tag(ws)[-6:]})"


def prefect_schedules(record: dict[str, Any]) -> list[dict[str, Any]]:
    d = record["definition"]
    if record["kind"] == "cron":
        return [{"schedule": {"cron": d["cron"], "timezone": d.get("timezone") or "UTC"},
                 "active": True}]
    if record["kind"] == "interval":
        anchor = d.get("anchor") or datetime.now(timezone.utc).isoformat()
        return [{"schedule": {"interval": float(d["interval"]), "anchor_date": anchor,
                              "timezone": "UTC"}, "active": True}]
    return []


ENTRYPOINT = "cumulus.flows._entry.pipeline_entry"   # a module path: nothing to download


def deployment_spec(ws: Workspace, record: dict[str, Any]) -> Any:
    """The record's deployment as a Prefect ``RunnerDeployment``: the flow named after the
    pipeline, run by the generic entry flow (``_entry.py``) with the workspace and record
    as parameters, so that a Prefect Runner (``cumulus schedule serve``) can execute it."""
    from prefect._internal.versioning import VersionType
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.deployments.runner import RunnerDeployment

    d = record["definition"]
    return RunnerDeployment(
        name=deployment_name(ws, record), flow_name=d["pipeline"], entrypoint=ENTRYPOINT,
        schedules=[DeploymentScheduleCreate.model_validate(s)
                   for s in prefect_schedules(record)],
        parameters={"pipeline_parameters": d.get("parameters") or {},
                    "cumulus_workspace": str(ws.root), "cumulus_source": record["name"]},
        paused=not record.get("enabled", True), enforce_parameter_schema=False,
        tags=[TAG, ws_tag(ws), f"cumulus-{record['kind']}"], version=fingerprint(record)[:12],
        version_type=VersionType.SIMPLE,   # not inferred from the cwd's git
        description=d.get("description") or f"Cumulus {record['kind']} {record['name']}")


def register(ws: Workspace, api: PrefectAPI, record: dict[str, Any],
             apply: Callable[[Any], Any] | None = None) -> str:
    """Create or update the record's Prefect deployment; returns its id. ``apply`` registers
    the spec another way (``cumulus schedule serve``: with its Prefect Runner)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    spec = deployment_spec(ws, record)
    if apply is None:
        with temporary_settings(updates={PREFECT_API_URL: api.url}):
            deployment_id = str(spec.apply())
    else:
        deployment_id = str(apply(spec))
    merge_state(ws, record["name"], deployment_id=deployment_id,
                registered=fingerprint(record))
    return deployment_id


def fingerprint(record: dict[str, Any]) -> str:
    """What the deployment mirrors; a change means the deployment must be updated."""

    doc = {"kind": record["kind"], "definition": record["definition"],
           "enabled": record.get("enabled", True)}
    return doc_digest(doc)


def try_register(ws: Workspace, key: str) -> str | None:
    """Register with the workspace's Prefect API when one is running; None otherwise."""
    import time

    from cumulus.flows._prefect import PrefectAPI, resolve_api

    url = resolve_api(ws, start=False)
    for attempt in range(3):  # a serve loop may upsert the same deployment concurrently
        record = get_record(ws, key)
        if not url or record is None:
            return None
        try:
            return register(ws, PrefectAPI(url), record)
        except Exception:
            time.sleep(0.2 * (attempt + 1))
    return None  # `cumulus schedule serve` registers it


def try_unregister(ws: Workspace, record: dict[str, Any]) -> None:
    from cumulus.flows._prefect import PrefectAPI, resolve_api

    deployment_id = (record.get("state") or {}).get("deployment_id")
    url = resolve_api(ws, start=False)
    if not url or not deployment_id:
        return
    try:
        PrefectAPI(url).delete_deployment(deployment_id)
    except Exception:
        pass  # serve deletes deployments whose record is gone


def create_triggered_run(ws: Workspace, record: dict[str, Any], flow_run: dict[str, Any]) -> str:
    """Record a pipeline run for a Prefect flow run of the record's deployment, Starting:
    the flow run's own process executes it (never the pipeline agent, which starts Queued
    runs)."""
    from cumulus.experiment import Experiment
    from cumulus.runconfig import new_run_id

    d = record["definition"]
    exp = Experiment(ws, d["experiment"])
    params = (flow_run.get("parameters") or {}).get("pipeline_parameters") or {}
    trigger = (flow_run.get("parameters") or {}).get("trigger")
    source = "published_pipeline" if record["kind"] == "published" else "schedule"
    label = record["name"][len(PUBLISHED_PREFIX):] if source == "published_pipeline" \
        else record["name"]
    run_id = new_run_id(exp.name)
    ws.store.create_run(
        run_id=run_id, experiment_id=exp.id, kind="pipeline", display_name=d["pipeline"],
        params=params, status="Starting",
        reason=f"triggered by {source} {label} (Prefect flow run {flow_run['id']})",
        properties={"pipeline": d["pipeline"], source: label, "trigger": trigger,
                    "prefect_flow_run_id": flow_run["id"]},
        definition={"type": "pipeline", "source": record["name"],
                    "requested_parameters": params, "trigger": trigger,
                    "prefect_flow_run_id": flow_run["id"]})
    return run_id
