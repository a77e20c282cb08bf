"""Submitting a script run: validate, snapshot, record Queued, hand to the compute target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cumulus.experiment import Experiment
    from cumulus.run import Run
    from cumulus.runconfig import ScriptRunConfig


def submit_script_run(experiment: Experiment, config: ScriptRunConfig, *,
                      tags: dict[str, Any] | None = None, parent: str | None = None,
                      display_name: str | None = None, kind: str = "script",
                      params: dict[str, Any] | None = None,
                      properties: dict[str, Any] | None = None,
                      reuse_key: str | None = None,
                      extra_definition: dict[str, Any] | None = None) -> Run:
    """Everything that can fail on bad input fails here, before the run is queued."""
    from cumulus.compute import ComputeTarget
    from cumulus.errors import CumulusError
    from cumulus.run import Run
    from cumulus.runconfig import new_run_id
    from cumulus.snapshot import take_snapshot, upload_snapshot

    ws = experiment.workspace
    target = ComputeTarget(ws, config.compute_target or ws.config.default_compute)
    resources = target.resources_for(config.resources, config.distribution)
    snap = take_snapshot(config.source_directory) if config.script else None
    spec = config.to_spec().replace(**(extra_definition or {}))
    if not spec.share_group:
        # the fair-share queue serves groups in turn: a pipeline's steps, else the experiment
        spec = spec.replace(share_group=parent or f"experiment:{experiment.name}")
    from cumulus.datastores._runtime import validate_data_paths

    validate_data_paths(ws, spec.to_definition())
    if snap is not None:
        upload_snapshot(snap, ws.get_default_datastore())
        spec = spec.replace(snapshot=snap.digest, source_directory=str(snap.source))
    definition = spec.to_definition()        # JSON only from here: the store boundary
    run_id = new_run_id(experiment.name)
    store = ws.store
    record = store.create_run(
        run_id=run_id, experiment_id=experiment.id, kind=kind, parent_id=parent,
        display_name=display_name or config.script, tags=tags, params=params,
        properties=properties, definition=definition, compute_target=target.name,
        reuse_key=reuse_key, reason=f"submitted to {target.name}")
    try:
        target.submit_run(run_id, ws.payload(), resources, definition)
    except CumulusError as exc:
        store.try_transition(run_id, "Failed", reason=str(exc), error={"message": str(exc)})
        raise
    except Exception as exc:
        store.try_transition(run_id, "Failed", reason=str(exc),
                             error={"message": f"{type(exc).__name__}: {exc}"})
        from cumulus.errors import ComputeError

        raise ComputeError(f"Compute target {target.name!r} did not accept run {run_id}: "
                           f"{type(exc).__name__}: {exc}") from exc
    return Run(experiment, run_id, _record=record)   # as created: no second read
