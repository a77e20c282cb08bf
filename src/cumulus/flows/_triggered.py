"""Preparing a pipeline run that a schedule or a Prefect trigger started.

The flow run's process (Prefect's Runner in ``cumulus schedule serve`` started it, see
``_entry.py``) records the run, then loads the frozen pipeline of the schedule or published
pipeline, traces it with the trigger's parameters over the record's defaults, validates and
pins it, and stores the result as the run's definition, exactly as ``exp.submit`` does in the
caller's process.

Example::

    definition = prepare_triggered(ws, ws.store.get_run(run_id))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cumulus.errors import ScheduleNotFoundError

if TYPE_CHECKING:
    from cumulus.workspace import Workspace


def prepare_triggered(ws: Workspace, rec: dict[str, Any]) -> dict[str, Any]:
    """Prepare run ``rec`` from its source record; returns the run's new definition."""
    from cumulus.flows._prepare import prepare, save_prepared
    from cumulus.flows._records import get_record, list_records, load_pipeline

    definition = dict(rec.get("definition") or {})
    source = definition.get("source") or ""
    record = get_record(ws, source)
    if record is None:
        raise ScheduleNotFoundError(source, [r["name"] for r in list_records(ws)],
                                    hint="It was deleted after this run was triggered.")
    d = record["definition"]
    pipeline = load_pipeline(ws, d["pipeline_blob"])
    params = {**(d.get("parameters") or {}), **(definition.get("requested_parameters") or {})}
    prepared = prepare(pipeline, ws, params)
    location = save_prepared(ws, rec["id"], prepared)
    new = {**prepared.definition(), **definition, "blob": location}
    ws.store.merge_run_dict(rec["id"], "definition", new)
    ws.store.merge_run_dict(rec["id"], "params", prepared.parameters)
    ws.store.merge_run_dict(rec["id"], "properties", {"steps": len(prepared.order)})
    return new
